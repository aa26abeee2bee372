"""What a cluster preset asks of a GPU cluster, by the model scales it trains: one place.

Every cluster preset trains in bf16 with ``device: auto`` (cuda where the trial's worker sees a GPU,
else the CPU; not part of a trial's name, so a trial is the same experiment on either). What each
trial reserves follows its largest scale:

- up to ``base`` / ``llama-small`` (under 20M parameters): a quarter GPU each, inline. Their steps are
  bound by kernel launches, not FLOPs (four 0.42M trials at once on one H200 took ~14 ms a step each,
  benchmarks/RESULTS.md), so four share a GPU at little cost each;
- ``gpt2-124m``: one GPU each, inline (one process: fits a GPU's memory many times);
- anything larger (``gpt2-355m``, a ``path:`` checkpoint): one GPU each under DeepSpeed ZeRO-2, whose
  sharded optimizer state scales out to more GPUs with ``resources.num_workers``.

Local presets (``smoke``, ``quick``, ``local``, ``short``) stay on the CPU: they are what a laptop runs.
"""

from __future__ import annotations

import copy

SHARED = ("tiny", "small", "base", "llama-tiny", "llama-small")  # a quarter GPU each
WHOLE = ("gpt2-124m",)  # one GPU each, one process


def gpu_resources(scales) -> dict:
    """``resources`` for trials of these scales (see the module's docstring)."""
    scales = set(scales)
    if scales <= set(SHARED):
        return {"gpus_per_trial": 0.25, "cpus_per_trial": 2, "backend": "inline"}
    if scales <= set(SHARED + WHOLE):
        return {"gpus_per_trial": 1, "cpus_per_trial": 4, "backend": "inline"}
    return {"gpus_per_trial": 1, "cpus_per_trial": 4, "backend": "deepspeed", "zero_stage": 2}


def on_gpus(preset: dict, scales) -> dict:
    """``preset`` (a sweep mapping) for a GPU cluster: device auto, bf16, its scales' resources."""
    out = copy.deepcopy(preset)
    base = out.setdefault("base", {})
    base["device"] = "auto"
    base["train"] = {**base.get("train", {}), "precision": "bf16"}
    out["resources"] = {**gpu_resources(scales), **out.get("resources", {})}
    return out
