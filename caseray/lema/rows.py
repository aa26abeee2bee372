"""LEMA (learning from mistakes) as a trial: ``TrialSpec.lema`` set.

1. The CoT trial -- the same spec without ``lema`` -- is run (or found finished by its hash): it is the
   CoT-alone baseline and, for ``own`` mistakes, the model whose mistakes are collected.
2. Mistakes: ``own`` (N solutions per training question sampled at temperature T, wrong answers
   kept), ``synthetic`` (planted, tagged errors) or ``mixed`` (own for up to half, planted for the rest).
3. The exact corrector writes incorrect step, explanation and corrected solution; a correction whose
   answer is still wrong is dropped and counted (there should be none).
4. CoT + correction examples are pooled (``correction_ratio`` corrections per CoT example;
   ``equal_size`` replaces CoT examples so the total stays fixed) and a model is trained on them
   from the same initialisation as the CoT trial. ``run_trial`` then evaluates it like any trial.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from caseray.core.atomic import write_text_atomic
from caseray.core.errors import SpecError
from caseray.core.progress import progress
from caseray.data.datasets import token_columns, write_parquet_atomic
from caseray.data.formats import get_format
from caseray.data.tasks import build_task
from caseray.lema.corrector import correct, correction_prompt
from caseray.lema.mistakes import Mistake, plant, sample_own
from caseray.train.models import load_trained

SAMPLE_FILE = "corrections_sample.txt"  # a sample of correction examples, logged to MLflow
CORRECTION_FIELDS = ("a", "b", "source", "planted_kind", "planted_line", "kind", "step", "wrong_solution")


def cot_spec(spec):
    """The CoT-alone trial a LEMA trial builds on (its model is kept: own mistakes come from it)."""
    return dataclasses.replace(spec, lema=None, save_model=True)


def lema_training_rows(spec, table: pa.Table, tokenizer, device, out: Path,
                       run_base: Callable) -> tuple[pa.Table, dict]:
    """The pooled CoT + correction training rows of LEMA trial ``spec`` and its counts (``lema/...``
    metrics), in three phases: collect mistakes, correct them, pool the rows. ``run_base(spec)`` runs
    (or finds finished) the CoT trial and returns its result. Writes ``corrections.parquet`` and a
    readable sample into ``out``."""
    t0 = time.perf_counter()
    cot = table.filter(pc.equal(table["split"], "train"))
    counts: Counter = Counter()
    mistakes = collect_mistakes(spec, cot, tokenizer, device, run_base, counts)
    corrections = correction_table(spec, mistakes, tokenizer, counts)
    keep = cot_rows_kept(spec, cot, corrections.num_rows)
    parts = [keep.select(["prompt_ids", "target_ids"])]
    if corrections.num_rows:
        write_parquet_atomic(corrections, out / "corrections.parquet")
        write_sample(out / SAMPLE_FILE, corrections["prompt"].to_pylist(), corrections["target"].to_pylist())
        parts.append(corrections.select(["prompt_ids", "target_ids"]).cast(parts[0].schema))
    n_synth = sum(m.source == "synthetic" for m in mistakes)
    metrics = {f"lema/{k}": v for k, v in counts.items()}
    metrics.update({"lema/mistakes_used": len(mistakes), "lema/corrected": corrections.num_rows,
                    "lema/cot_rows": keep.num_rows, "lema/correction_rows": corrections.num_rows,
                    "lema/planted_kind_agrees": counts["planted_kind_agrees"] / n_synth if n_synth else float("nan"),
                    "lema/dropped": counts["dropped"], "lema/collect_seconds": time.perf_counter() - t0})
    return pa.concat_tables(parts), metrics


def collect_mistakes(spec, cot: pa.Table, tokenizer, device, run_base: Callable, counts: Counter) -> list[Mistake]:
    """Phase 1: ``correction_ratio`` x the CoT rows of wrong solutions, the model's own (sampled from
    the CoT trial's model), planted, or half and half (``mixed``)."""
    lema, task, fmt = spec.lema, build_task(spec.task), get_format(spec.format)
    wanted = max(1, round(lema.correction_ratio * cot.num_rows))
    rng = random.Random(spec.seed)
    mistakes: list[Mistake] = []
    if lema.mistake_source in ("own", "mixed"):
        own_wanted = wanted if lema.mistake_source == "own" else wanted // 2
        found = collect_own(spec, cot, tokenizer, device, run_base, counts)
        rng.shuffle(found)
        mistakes += found[:own_wanted]
    if lema.mistake_source in ("synthetic", "mixed"):
        mistakes += plant_many(fmt, task, cot, wanted - len(mistakes) if lema.mistake_source == "mixed"
                               else wanted, lema.error_kinds, rng, counts)
    return mistakes


def correction_table(spec, mistakes: list[Mistake], tokenizer, counts: Counter) -> pa.Table:
    """Phase 2: the exact corrector on every mistake; a correction whose answer is still wrong, or whose
    repaired solution fails the step checker, is dropped and counted. One row per kept correction:
    where it came from, the diagnosis, its text and tokens."""
    lema, task, fmt = spec.lema, build_task(spec.task), get_format(spec.format)
    records, prompts, targets = [], [], []
    for m in progress(mistakes, "LEMA: correcting mistakes", unit="mistake"):
        c = correct(fmt, task, m.a, m.b, m.text)
        full = m.text.split("\n")[:c.step] + list(c.corrected) if c is not None else []
        if c is None or c.answer != task.answer(m.a, m.b) or \
                fmt.first_wrong_step(task, m.a, m.b, "\n".join(full)) is not None:
            counts["dropped"] += 1
            continue
        counts[f"kind/{c.kind}"] += 1
        counts["planted_kind_agrees"] += int(m.source == "synthetic" and c.kind == m.kind)
        prompts.append(correction_prompt(fmt, task, m.a, m.b, m.text))
        targets.append(c.text(lema.ablation, lema.quote_step))
        records.append({"a": str(m.a), "b": str(m.b), "source": m.source, "planted_kind": m.kind,
                        "planted_line": m.line, "kind": c.kind, "step": c.step, "wrong_solution": m.text})
    types = {k: pa.int64() if k in ("planted_line", "step") else pa.string() for k in CORRECTION_FIELDS}
    columns = {k: pa.array([r[k] for r in records], types[k]) for k in CORRECTION_FIELDS}
    return pa.table({**columns, **token_columns(tokenizer, prompts, targets)})


def cot_rows_kept(spec, cot: pa.Table, n_corrections: int) -> pa.Table:
    """Phase 3: the CoT rows pooled with the corrections -- all of them, or with ``equal_size`` as many
    fewer as there are corrections (the total stays the CoT set's size)."""
    if not spec.lema.equal_size or not n_corrections:
        return cot
    drop = np.random.default_rng(spec.seed).choice(cot.num_rows, min(n_corrections, cot.num_rows - 1),
                                                   replace=False)
    mask = np.ones(cot.num_rows, dtype=bool)
    mask[drop] = False
    return cot.filter(pa.array(mask))


def plant_many(fmt, task, cot: pa.Table, n: int, kinds, rng: random.Random, counts: Counter) -> list[Mistake]:
    """``n`` planted mistakes on training questions drawn without replacement (cycling when n is
    larger than the training set); questions where no asked-for error fits are skipped."""
    a_col, b_col = cot["a"].to_pylist(), cot["b"].to_pylist()
    order, out, tries = list(range(len(a_col))), [], 0
    with progress(None, "LEMA: planting mistakes", total=n, unit="mistake") as bar:
        while len(out) < n and tries < 3 * n + len(order):
            if tries % len(order) == 0:
                rng.shuffle(order)
            i = order[tries % len(order)]
            tries += 1
            m = plant(fmt, task, int(a_col[i]), int(b_col[i]), rng, kinds)
            if m is not None:
                out.append(m)
                bar.update()
    counts["synthetic_planted"] += len(out)
    return out


def collect_own(spec, cot: pa.Table, tokenizer, device, run_base: Callable, counts: Counter) -> list[Mistake]:
    """The CoT trial's model (trained now, or found finished by its hash) sampled on a seeded subset
    of the training questions; its wrong solutions."""
    base = cot_spec(spec)
    result = run_base(base)
    path = Path(result.out_dir) / "model"
    if not path.is_dir():
        raise SpecError("lema.mistake_source", f"the CoT trial {base.name} finished without its model "
                        "(it ran with save_model false); own mistakes are sampled from it",
                        ["synthetic", f"or delete {result.out_dir} to retrain it"])
    model = load_trained(base.model, path).to(device)
    lema = spec.lema
    rows = cot
    if cot.num_rows > lema.max_questions:
        pick = np.sort(np.random.default_rng(spec.seed).choice(cot.num_rows, lema.max_questions, replace=False))
        rows = cot.take(pa.array(pick))
    fmt, task = get_format(spec.format), build_task(spec.task)
    mistakes, sampled = sample_own(model, rows, fmt, task, tokenizer, device, lema.samples, lema.temperature,
                                   spec.seed, spec.eval.batch_size)
    counts.update({"questions_sampled": rows.num_rows, "solutions_sampled": sampled, "own_wrong": len(mistakes),
                   "cot_train_acc": result.metrics.get("train_acc", float("nan"))})
    return mistakes


def write_sample(path: Path, prompts: list[str], targets: list[str], n: int = 20) -> None:
    text = "\n\n".join(f"### example {i + 1}\n--- input\n{p}--- output\n{t}"
                       for i, (p, t) in enumerate(zip(prompts[:n], targets[:n])))
    write_text_atomic(path, text + "\n")
