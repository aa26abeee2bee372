"""Coverage predictors: is a trial's hole explained by what training never showed?

Each predictor gives every cell a list of keys and calls a cell *uncovered* (predicted to fail)
when one of its keys occurs in no training cell; training cells are covered by definition.

- ``step+column``: the cell's steps (``Format.step_keys``: operation, column, digits, carry in).
  A model that is case-based at the step level *in each column* solves a cell iff it has seen
  each of its steps in that column.
- ``step``: the same steps without the column (``Step.anywhere()``): a step learned in one column
  counts in every column.
- ``answer_token``: the tokens of the cell's answer line as its target holds them (the trial's
  tokenizer, ``caseray.data.tokenizers``; ``number`` tokens: 57 is one token, ``digit`` tokens:
  5 and 7): uncovered when one of them is never an answer token of a training cell -- in number
  tokens, an answer value no training cell produces (anti-diagonals of an addition grid).

The step predictors read a format's written steps, or the steps another format writes (the implicit
column steps of direct answers in digit tokens, ``steps_format``); they do not apply (None) to a
format without steps. ``answer_token`` applies to every format (None only where the tokenizer cannot
be loaded here: an ``hf:`` directory that is not on this machine).

``score`` compares a predictor with the observed failures (accuracy below ``HOLE_THRESHOLD``) over
the test cells. Its keys, per predictor ``<p>`` (``coverage/step/precision``, ...):

- ``coverage/<p>/predicted``: test cells predicted to fail; ``coverage/<p>/failed``: test cells that
  failed; ``coverage/<p>/hits``: both;
- ``coverage/<p>/precision`` = hits / predicted, ``coverage/<p>/recall`` = hits / failed (nan when
  the divisor is 0); ``coverage/<p>/agreement``: the share of test cells where prediction and outcome
  agree.

Given one array instead of a mapping of predictors, ``score`` writes the same metrics as
``coverage/<metric>`` (the single-predictor names the report's tables read).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from caseray.core.errors import SpecError
from caseray.data.formats import get_format
from caseray.data.formats.columns import Step
from caseray.data.tasks import Task
from caseray.data.tokenizers import Tokenizer, build_tokenizer
from caseray.trial.metrics import HOLE_THRESHOLD

PREDICTORS = ("step+column", "step", "answer_token")
METRICS = ("predicted", "failed", "hits", "agreement", "precision", "recall")


class Coverage(NamedTuple):
    """Every predictor of one trial: ``uncovered`` and ``missing`` by predictor name (None where
    it does not apply), ``scores`` as ``coverage/<predictor>/<metric>`` for those that apply."""

    uncovered: dict[str, np.ndarray | None]
    scores: dict[str, float | int]
    missing: dict[str, list[tuple[object, int]] | None]


def cell_steps(task: Task, fmt_name: str, a, b) -> list[list[Step]] | None:
    """Per cell: its steps (``Format.step_keys``); None for a format without steps."""
    fmt = get_format(fmt_name, task)
    if not fmt.has_steps:
        return None
    return [fmt.step_keys(task, int(x), int(y)) for x, y in zip(a, b)]


@lru_cache(maxsize=8)
def _tokenizer(spec: str) -> Tokenizer:
    return build_tokenizer(spec)


def answer_tokens(task: Task, fmt_name: str, tokenizer: Tokenizer, a, b) -> list[tuple[int, ...]]:
    """Per cell: the token ids of its answer line as its target holds them -- the target's tokens
    after its last line end (a step format's answer follows a newline; a direct target is the
    answer alone)."""
    fmt = get_format(fmt_name, task)
    if not len(a):
        return []
    lead = "\n" if fmt.steps(task, int(a[0]), int(b[0])) else ""  # a format writes steps for every cell or none
    values, offsets = tokenizer.encode_many([lead + task.answer(int(x), int(y)) for x, y in zip(a, b)])
    ends = set(tokenizer.line_end_ids()) if lead else set()
    out = []
    for i in range(len(a)):
        ids = values[offsets[i]:offsets[i + 1]].tolist()
        cut = max((k + 1 for k, t in enumerate(ids) if t in ends), default=0)
        out.append(tuple(ids[cut:]))
    return out


def cell_keys(task: Task, fmt_name: str, tokenizer_name: str | None, a, b, steps_format: str | None = None,
              names: Sequence[str] = PREDICTORS) -> dict[str, list | None]:
    """Per predictor in ``names``, per cell: the keys some training cell must hold for the cell to be
    covered; None where the predictor does not apply. ``steps_format``: whose steps the step
    predictors read (default: ``fmt_name``'s own)."""
    unknown = [n for n in names if n not in PREDICTORS]
    if unknown:
        raise ValueError(f"unknown coverage predictor(s) {unknown}; known: {PREDICTORS}")
    a, b = np.asarray(a), np.asarray(b)
    out: dict[str, list | None] = {}
    steps = cell_steps(task, steps_format or fmt_name, a, b) if {"step+column", "step"} & set(names) else None
    if "step+column" in names:
        out["step+column"] = steps
    if "step" in names:
        out["step"] = None if steps is None else [[s.anywhere() for s in cell] for cell in steps]
    if "answer_token" in names:
        try:
            tokenizer = _tokenizer(tokenizer_name) if tokenizer_name else None
        except SpecError:  # an hf: directory that is not on this machine
            tokenizer = None
        out["answer_token"] = None if tokenizer is None else answer_tokens(task, fmt_name, tokenizer, a, b)
    return out


def seen_keys(keys: list[list], split) -> set:
    """The keys of the training cells."""
    return {k for i in np.flatnonzero(np.asarray(split) == "train") for k in keys[i]}


def uncovered_cells(keys: list[list], split) -> np.ndarray:
    """Per cell: one of its keys occurs in no training cell."""
    seen = seen_keys(keys, split)
    return np.array([any(k not in seen for k in cell) for cell in keys], dtype=bool)


def missing_keys(keys: list[list], split) -> list[tuple[object, int]]:
    """The keys that no training cell holds, with how many test cells need each, most needed first."""
    split = np.asarray(split)
    seen = seen_keys(keys, split)
    counts = Counter(k for i in np.flatnonzero(split == "test") for k in set(keys[i]) if k not in seen)
    return counts.most_common()


def predictors(task: Task, fmt_name: str, tokenizer_name: str | None, a, b, split,
               steps_format: str | None = None, names: Sequence[str] = PREDICTORS) -> dict[str, np.ndarray | None]:
    """Per predictor (``PREDICTORS``, or those in ``names``): a boolean per cell, True = uncovered
    (predicted to fail); None where the predictor does not apply (step predictors of a format
    without steps, unless ``steps_format`` names whose steps to read)."""
    keys = cell_keys(task, fmt_name, tokenizer_name, a, b, steps_format, names)
    return {name: None if k is None else uncovered_cells(k, split) for name, k in keys.items()}


def _metrics(uncovered, accuracy, split) -> dict:
    test = np.asarray(split) == "test"
    pred = np.asarray(uncovered, dtype=bool) & test
    fail = (np.asarray(accuracy, dtype=float) < HOLE_THRESHOLD) & test
    hit = int((pred & fail).sum())
    return {"predicted": int(pred.sum()), "failed": int(fail.sum()), "hits": hit,
            "agreement": float(((pred == fail) & test).sum() / max(test.sum(), 1)),
            "precision": hit / pred.sum() if pred.sum() else float("nan"),
            "recall": hit / fail.sum() if fail.sum() else float("nan")}


def score(uncovered: Mapping[str, np.ndarray | None] | np.ndarray, accuracy, split) -> dict:
    """Precision and recall of "uncovered => fails" over the test cells: for a mapping of predictors
    (``predictors``' result) ``coverage/<predictor>/<metric>`` for each that applies; for one array
    ``coverage/<metric>``."""
    if isinstance(uncovered, Mapping):
        return {f"coverage/{name}/{k}": v for name, u in uncovered.items() if u is not None
                for k, v in _metrics(u, accuracy, split).items()}
    return {f"coverage/{k}": v for k, v in _metrics(uncovered, accuracy, split).items()}


def evaluate(task: Task, fmt_name: str, tokenizer_name: str | None, a, b, split, accuracy,
             steps_format: str | None = None, names: Sequence[str] = PREDICTORS) -> Coverage:
    """The predictors of one trial's cells, scored against its accuracy, with their missing keys
    (answer tokens as their text)."""
    keys = cell_keys(task, fmt_name, tokenizer_name, a, b, steps_format, names)
    uncovered = {name: None if k is None else uncovered_cells(k, split) for name, k in keys.items()}
    missing = {name: None if k is None else missing_keys(k, split) for name, k in keys.items()}
    if missing.get("answer_token"):
        decode = _tokenizer(tokenizer_name).decode
        missing["answer_token"] = [(decode([t]), n) for t, n in missing["answer_token"]]
    return Coverage(uncovered, score(uncovered, accuracy, split), missing)


def predict(task: Task, fmt_name: str, a, b, split) -> dict | None:
    """The ``step+column`` predictor alone: ``uncovered`` per cell, ``n_steps_seen`` and the
    ``missing`` steps counted over the test cells; None for formats without steps."""
    steps = cell_keys(task, fmt_name, None, a, b, names=("step+column",))["step+column"]
    if steps is None:
        return None
    return {"uncovered": uncovered_cells(steps, split), "n_steps_seen": len(seen_keys(steps, split)),
            "missing": missing_keys(steps, split)}
