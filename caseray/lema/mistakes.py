"""Wrong step-by-step solutions to learn from (LEMA): planted ones and a model's own.

- ``plant``: a right solution with one tagged error (``caseray.data.faults``) carried through to a wrong
  answer -- the position and kind are known, which is what the corrector is tested against.
- ``sample_own``: N solutions per question sampled from a trained model at temperature T; the ones
  whose final answer is wrong are kept (each distinct text once per question).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pyarrow as pa

from caseray.core.progress import progress
from caseray.data.faults import Fault
from caseray.data.formats.base import Format
from caseray.data.tasks import Task
from caseray.train.evaluate import generate


@dataclass(frozen=True)
class Mistake:
    a: int
    b: int
    text: str
    source: str  # "own" or "synthetic"
    kind: str = ""  # the planted error kind ("" for a model's own mistake)
    line: int = -1  # the planted first wrong line (-1 for a model's own mistake)


def plant(fmt: Format, task: Task, a: int, b: int, rng: random.Random, kinds=()) -> Mistake | None:
    """A solution of cell (a, b) with one error of a kind drawn from ``kinds`` (default: every kind the
    format has) among those that fit this cell, at a random place, giving a wrong final answer.
    None if no such error fits (e.g. ``dropped_carry`` in a sum without carries)."""
    kinds = list(kinds or fmt.fault_kinds(task))
    rng.shuffle(kinds)
    right = task.answer(a, b)
    places = len(fmt.steps(task, a, b)) + 1
    for kind in kinds:
        options = [(part, at) for part in range(fmt.fault_parts(task)) for at in range(places)]
        rng.shuffle(options)
        for part, at in options:
            fault = Fault(kind, at, part, delta=rng.randrange(1, max(task.base, 2)))
            lines = fmt.faulty_lines(task, a, b, fault)
            if fault.line is not None and lines[-1] != right:
                return Mistake(a, b, "\n".join(lines), "synthetic", kind, fault.line)
    return None


def sample_own(model, rows: pa.Table, fmt: Format, task: Task, tokenizer, device, samples: int,
               temperature: float, seed: int, batch_size: int = 256) -> tuple[list[Mistake], int]:
    """The model's wrong solutions of the questions in ``rows`` (a table with a, b, prompt_ids,
    target_ids): (mistakes, solutions sampled)."""
    draws = generate(model, rows, tokenizer, device, batch_size, samples, temperature, seed)
    a_col, b_col = rows["a"].to_pylist(), rows["b"].to_pylist()
    out = []
    for i, texts in enumerate(progress(draws, "LEMA: scoring own solutions", unit="question")):
        a, b = int(a_col[i]), int(b_col[i])
        right, seen = task.answer(a, b), set()
        for ids in texts:
            text = tokenizer.decode(ids).strip("\n")
            if text not in seen and fmt.parse(text).answer != right:
                seen.add(text)
                out.append(Mistake(a, b, text, "own"))
    return out, sum(len(t) for t in draws)
