"""The paired control of a Leave-Square-Out trial: a random split holding out as many cells, on the
same task, grid, format, tokenizer, model, training, data size and seed (its random draw seeded by
the trial's seed). A hole is measured against it: ``hole_depth`` = control test accuracy - centre
accuracy (``caseray.trial.metrics.paired_metrics``). Squares of one size share a control."""

from __future__ import annotations

from dataclasses import replace

from caseray.data.splits import SplitSpec, test_count
from caseray.data.tasks import build_task
from caseray.trial.spec import TrialSpec


def control_spec(spec: TrialSpec) -> TrialSpec | None:
    """The paired control of a square trial; None for a random split, a length trial or LEMA."""
    if spec.lengths is not None or spec.lema is not None or spec.split.kind == "random":
        return None
    n = test_count(build_task(spec.task), spec.split)
    split = SplitSpec(kind="random", test_size=n, seed=spec.seed, max_test_fraction=spec.split.max_test_fraction)
    return replace(spec, split=split)


def with_controls(specs: list[TrialSpec]) -> list[TrialSpec]:
    """``specs`` followed by the paired controls they lack (each once)."""
    seen = {s.hash for s in specs}
    out = list(specs)
    for spec in specs:
        control = control_spec(spec)
        if control is not None and control.hash not in seen:
            seen.add(control.hash)
            out.append(control)
    return out


def pairs(specs: list[TrialSpec]) -> list[tuple[TrialSpec, TrialSpec]]:
    """(square trial, its control) for every square trial whose control is among ``specs``."""
    by_hash = {s.hash: s for s in specs}
    found = [(s, control_spec(s)) for s in specs]
    return [(s, by_hash[c.hash]) for s, c in found if c is not None and c.hash in by_hash]
