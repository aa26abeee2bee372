"""Every change caseray makes to a process's environment for Ray, in one place.

- ``WORKER_ENV`` reaches every Ray worker through ``runtime_env`` (never this process): Ray Train
  polls its workers every few seconds by default, and each report waits for a poll.
- ``loopback_only()``, before an embedded local Ray starts: ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``
  for Ray's own processes and Ray's private ``ray_constants.ENABLE_RAY_CLUSTER = False`` for this one;
  otherwise Ray turns a 127.0.0.1 node address into the machine's LAN address and binds its servers
  to every interface (a one-machine Ray needs no LAN). Process-wide, for the process's life.
- ``signals_to_caseray()``, while Tune runs a sweep: ``TUNE_DISABLE_SIGINT_HANDLER=1`` (Ctrl-C and
  SIGTERM reach caseray, which ends the parent run KILLED); restored afterwards.

Nothing else sets an environment variable: the datasets' cache travels as an argument
(``TrialJob.cache_dir`` -> ``run_trial(cache=...)``, ``Tracker.child_run(cache=...)``).
"""

from __future__ import annotations

import contextlib
import os

WORKER_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2"}


def loopback_only() -> None:
    from ray._private import ray_constants

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False


@contextlib.contextmanager
def signals_to_caseray():
    before = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = before
