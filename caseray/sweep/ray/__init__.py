"""Ray, in one package -- the only place caseray imports it: a sweep's trials as a Ray Tune grid, each
trial run inline or on Ray Train.

- ``preflight``: every refusal before anything is written, and Ray joined or started;
- ``drivers``: one trial's Tune driver and the checkpoint adapters of Tune and Ray Train;
- ``run``: ``run_sweep`` in phases (check, parent run, start, tune_trials, collect, pair_controls);
- ``environment``: every change made to a process's environment, documented.
"""

from caseray.sweep.ray.drivers import TrialJob
from caseray.sweep.ray.preflight import (
    DRIVER_MARK,
    DRIVER_RESOURCES,
    NODE_GPUS_MARK,
    check_cluster_gpus,
    check_cluster_storage,
    check_fits_this_machine,
    concurrent_trials,
    driver_resources,
    init_ray,
    storage_root,
)
from caseray.sweep.ray.run import TrialOutcome, error_text, run_sweep

__all__ = ["DRIVER_MARK", "DRIVER_RESOURCES", "NODE_GPUS_MARK", "TrialJob", "TrialOutcome", "check_cluster_gpus",
           "check_cluster_storage", "check_fits_this_machine", "concurrent_trials", "driver_resources", "error_text",
           "init_ray", "run_sweep", "storage_root"]
