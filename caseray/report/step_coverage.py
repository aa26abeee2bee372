"""Step coverage: is a format's hole explained by steps that training never showed?

For a step format (scratchpad, rule-following) every cell's solution is a list of column steps
(``Format.step_keys``). A model that is case-based *at the step level* solves a test cell iff it
has seen each of its steps in training. ``predict`` marks the cells with a step that no training
cell contains; ``score`` compares that with the observed failures (accuracy below 50%).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from caseray.data.formats import get_format
from caseray.data.tasks import Task
from caseray.trial.metrics import HOLE_THRESHOLD


def cell_steps(task: Task, fmt_name: str, a, b) -> list[list] | None:
    fmt = get_format(fmt_name, task)
    steps = [fmt.step_keys(task, int(x), int(y)) for x, y in zip(a, b)]
    return None if not steps or steps[0] is None else steps


def predict(task: Task, fmt_name: str, a, b, split) -> dict | None:
    """Per cell: ``uncovered`` (a step never seen in training) and the missing steps, counted over the
    test cells; None for formats without steps."""
    steps = cell_steps(task, fmt_name, np.asarray(a), np.asarray(b))
    if steps is None:
        return None
    split = np.asarray(split)
    seen = {key for i in np.flatnonzero(split == "train") for key in steps[i]}
    missing = [[key for key in cell if key not in seen] for cell in steps]
    counts = Counter(key for i in np.flatnonzero(split == "test") for key in missing[i])
    return {"uncovered": np.array([bool(m) for m in missing]), "n_steps_seen": len(seen),
            "missing": counts.most_common()}


def score(uncovered, accuracy, split) -> dict:
    """Precision and recall of "uncovered => fails" over the test cells."""
    test = np.asarray(split) == "test"
    pred = np.asarray(uncovered, dtype=bool) & test
    fail = (np.asarray(accuracy, dtype=float) < HOLE_THRESHOLD) & test
    hit = int((pred & fail).sum())
    out = {"coverage/predicted": int(pred.sum()), "coverage/failed": int(fail.sum()), "coverage/hits": hit,
           "coverage/agreement": float(((pred == fail) & test).sum() / max(test.sum(), 1))}
    out["coverage/precision"] = hit / pred.sum() if pred.sum() else float("nan")
    out["coverage/recall"] = hit / fail.sum() if fail.sum() else float("nan")
    return out
