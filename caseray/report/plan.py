"""``caseray plan``: what a sweep would cost, without running it.

For every trial: parameters N (the model built on the meta device: shapes only), the padded sequence
length T of its own dataset, training tokens = steps x batch x T, model FLOPs (6 N + 12 L d T per
training token, as benchmarks/mfu.py counts them; 2 N + 4 L d T per evaluated token) and, from the
throughputs measured, its hours (``report.costs``). Then the cluster shape a launcher config would give
it at full concurrency and the sweep's wall-clock there (``report.cluster_shape``). No Ray, no
training; datasets are read from (or built into) the usual parquet cache.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from caseray.core.errors import SpecError
from caseray.core.progress import progress
from caseray.report.cluster_shape import DEFAULT_CLUSTER, cluster_shape, wall_seconds
from caseray.report.costs import (
    ASSUMED_MFU,
    OVERHEAD_S,
    PEAK_FLOPS,
    Datasets,
    Throughput,
    cpu_flops_per_core,
    throughput,
    trial_seconds,
)


def make_plan(sweep, gpu: str = "H100", mfu: float | None = None, cluster: str | Path | None = None) -> dict:
    """The sweep's plan as plain data (what ``--json`` prints)."""
    if gpu not in PEAK_FLOPS:
        raise SpecError("gpu", f"unknown GPU {gpu!r}", sorted(PEAK_FLOPS))
    if mfu is not None and not 0 < mfu <= 1:
        raise SpecError("mfu", f"{mfu:g} is not a fraction of the peak", "0 < mfu <= 1")
    specs, res = sweep.trials(), sweep.resources
    if cluster is None and DEFAULT_CLUSTER.is_file():
        cluster = DEFAULT_CLUSTER
    shape = cluster_shape(Path(cluster), res, len(specs)) if cluster else None  # bad input first
    data = Datasets()
    rate = Throughput(cpu_flops_per_core(data), gpu, mfu or ASSUMED_MFU, mfu is not None)
    overhead = OVERHEAD_S[res.backend]
    groups: dict = {}
    seconds = []
    for spec in progress(specs, f"planning {sweep.id}", unit="trial"):
        s, step_s, floored, cost = trial_seconds(spec, data, rate, res, overhead)
        seconds.append(s)
        key = (spec.model.scale, spec.task.name, spec.format, spec.tokenizer, cost, s, step_s, floored)
        groups.setdefault(key, []).append(s)
    rows = [{"scale": k[0], "task": k[1], "format": k[2], "tokenizer": k[3], "trials": len(v), **asdict(k[4]),
             "train_step_s": k[6], "at_step_floor": k[7], "hours_per_trial": k[5] / 3600}
            for k, v in groups.items()]
    hours = sum(seconds) / 3600
    if shape is not None:
        shape["wall_hours"] = wall_seconds(seconds, shape["concurrency"]) / 3600
    return {
        "sweep": sweep.id, "trials": len(specs),
        "resources": {"cpus_per_trial": res.cpus_per_trial, "gpus_per_trial": res.gpus_per_trial,
                      "num_workers": res.num_workers, "backend": res.backend},
        "throughput": throughput(rate, gpu, overhead),
        "groups": rows,
        "totals": {"train_flops": sum(r["train_flops"] * r["trials"] for r in rows),
                   "eval_flops": sum(r["eval_flops"] * r["trials"] for r in rows),
                   "trial_hours": hours, "gpu_hours": hours * res.gpus_per_trial,
                   "cpu_core_hours": hours * res.cpus_per_trial},
        "cluster": shape,
    }
