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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from caseray.corrector import ABLATIONS, correct, correction_prompt
from caseray.data import token_columns, write_parquet_atomic
from caseray.errors import SpecError
from caseray.faults import KINDS
from caseray.formats import get_format
from caseray.mistakes import Mistake, plant, sample_own
from caseray.specs import check_choice, check_float, check_int
from caseray.tasks import build_task

SOURCES = ("own", "synthetic", "mixed")
SAMPLE_FILE = "corrections_sample.txt"  # a sample of correction examples, logged to MLflow


@dataclass(frozen=True)
class LemaSpec:
    mistake_source: str = "synthetic"
    correction_ratio: float = 0.5  # correction examples per CoT example
    equal_size: bool = False  # replace CoT examples by corrections: the total stays the CoT set's size
    ablation: str = "none"  # leave out one part of the corrections (LEMA's ablations)
    samples: int = 4  # own: solutions sampled per training question
    temperature: float = 1.0  # own: sampling temperature
    max_questions: int = 2000  # own: training questions sampled (a seeded subset)
    error_kinds: tuple[str, ...] = ()  # synthetic: kinds to plant (empty: every kind the format has)
    quote_step: bool = True  # write the incorrect step's line after its index (false: the index only)

    def __post_init__(self):
        check_choice("mistake_source", self.mistake_source, SOURCES)
        check_float("correction_ratio", self.correction_ratio, 0.0, 100.0, low_open=True)
        if self.equal_size and self.correction_ratio >= 1:
            raise SpecError("correction_ratio", f"{self.correction_ratio} with equal_size would replace every CoT "
                            "example", "below 1 with equal_size")
        check_choice("ablation", self.ablation, ABLATIONS)
        if not isinstance(self.quote_step, bool):
            raise SpecError("quote_step", f"expected true or false, got {self.quote_step!r}")
        check_int("samples", self.samples, minimum=1, maximum=1000)
        check_float("temperature", self.temperature, 0.0, 100.0, low_open=True)
        check_int("max_questions", self.max_questions, minimum=1)
        for i, kind in enumerate(self.error_kinds):
            check_choice(f"error_kinds[{i}]", kind, KINDS)

    def check_format(self, format_name: str, task) -> None:
        """The trial's format must write steps, and plant every asked-for kind."""
        kinds = get_format(format_name).fault_kinds(build_task(task))
        if not kinds:
            raise SpecError("format", f"LEMA corrects step-by-step solutions; {format_name!r} writes none",
                            ["scratchpad", "rule_following", "rule_following_numbered"])
        for i, kind in enumerate(self.error_kinds):
            check_choice(f"lema.error_kinds[{i}]", kind, kinds)


def cot_spec(spec):
    """The CoT-alone trial a LEMA trial builds on (its model is kept: own mistakes come from it)."""
    return dataclasses.replace(spec, lema=None, save_model=True)


def lema_training_rows(spec, table: pa.Table, tokenizer, device, out_root, out: Path, runtime) -> tuple[pa.Table, dict]:
    """The pooled CoT + correction training rows of LEMA trial ``spec`` and its counts (``lema/...``
    metrics). Writes ``corrections.parquet`` and a readable sample into ``out``."""
    lema, task, fmt = spec.lema, build_task(spec.task), get_format(spec.format)
    t0 = time.perf_counter()
    cot = table.filter(pc.equal(table["split"], "train"))
    n_cot = cot.num_rows
    wanted = max(1, round(lema.correction_ratio * n_cot))
    rng = random.Random(spec.seed)
    counts: Counter = Counter()
    mistakes: list[Mistake] = []
    if lema.mistake_source in ("own", "mixed"):
        own_wanted = wanted if lema.mistake_source == "own" else wanted // 2
        found = collect_own(spec, cot, tokenizer, device, out_root, runtime, counts)
        rng.shuffle(found)
        mistakes += found[:own_wanted]
    if lema.mistake_source in ("synthetic", "mixed"):
        mistakes += plant_many(fmt, task, cot, wanted - len(mistakes) if lema.mistake_source == "mixed"
                               else wanted, lema.error_kinds, rng, counts)
    records, prompts, targets = [], [], []
    for m in mistakes:
        c = correct(fmt, task, m.a, m.b, m.text)
        full = m.text.split("\n")[:c.step] + list(c.corrected) if c is not None else []
        if c is None or c.answer != task.answer(m.a, m.b) or fmt.first_wrong_step(task, m.a, m.b, "\n".join(full)) is not None:
            counts["dropped"] += 1
            continue
        counts[f"kind/{c.kind}"] += 1
        counts["planted_kind_agrees"] += int(m.source == "synthetic" and c.kind == m.kind)
        prompts.append(correction_prompt(fmt, task, m.a, m.b, m.text))
        targets.append(c.text(lema.ablation, lema.quote_step))
        records.append({"a": str(m.a), "b": str(m.b), "source": m.source, "planted_kind": m.kind,
                        "planted_line": m.line, "kind": c.kind, "step": c.step, "wrong_solution": m.text})
    columns = token_columns(tokenizer, prompts, targets)
    corrections = pa.table({**{k: pa.array([r[k] for r in records], pa.int64() if k in ("planted_line", "step")
                                           else pa.string()) for k in records[0]}, **columns}) if records else None
    keep = cot
    if lema.equal_size and records:  # corrections replace CoT examples: the total stays n_cot
        drop = np.random.default_rng(spec.seed).choice(n_cot, min(len(records), n_cot - 1), replace=False)
        mask = np.ones(n_cot, dtype=bool)
        mask[drop] = False
        keep = cot.filter(pa.array(mask))
    parts = [keep.select(["prompt_ids", "target_ids"])]
    if corrections is not None:
        write_parquet_atomic(corrections, out / "corrections.parquet")
        write_sample(out / SAMPLE_FILE, prompts, targets)
        parts.append(corrections.select(["prompt_ids", "target_ids"]).cast(parts[0].schema))
    pooled = pa.concat_tables(parts)
    n_synth = sum(m.source == "synthetic" for m in mistakes)
    metrics = {f"lema/{k}": v for k, v in counts.items()}
    metrics.update({"lema/mistakes_used": len(mistakes), "lema/corrected": len(records),
                    "lema/cot_rows": keep.num_rows, "lema/correction_rows": len(records),
                    "lema/planted_kind_agrees": counts["planted_kind_agrees"] / n_synth if n_synth else float("nan"),
                    "lema/dropped": counts["dropped"], "lema/collect_seconds": time.perf_counter() - t0})
    return pooled, metrics


def plant_many(fmt, task, cot: pa.Table, n: int, kinds, rng: random.Random, counts: Counter) -> list[Mistake]:
    """``n`` planted mistakes on training questions drawn without replacement (cycling when n is
    larger than the training set); questions where no asked-for error fits are skipped."""
    a_col, b_col = cot["a"].to_pylist(), cot["b"].to_pylist()
    order, out, tries = list(range(len(a_col))), [], 0
    while len(out) < n and tries < 3 * n + len(order):
        if tries % len(order) == 0:
            rng.shuffle(order)
        i = order[tries % len(order)]
        tries += 1
        m = plant(fmt, task, int(a_col[i]), int(b_col[i]), rng, kinds)
        if m is not None:
            out.append(m)
    counts["synthetic_planted"] += len(out)
    return out


def collect_own(spec, cot: pa.Table, tokenizer, device, out_root, runtime, counts: Counter) -> list[Mistake]:
    """The CoT trial's model (trained now, or found finished by its hash) sampled on a seeded subset
    of the training questions; its wrong solutions."""
    from caseray.models import load_trained
    from caseray.trial import run_trial

    base = cot_spec(spec)
    result = run_trial(base, out_root, runtime=runtime)
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
    from caseray.atomic import write_text_atomic

    text = "\n\n".join(f"### example {i + 1}\n--- input\n{p}--- output\n{t}"
                       for i, (p, t) in enumerate(zip(prompts[:n], targets[:n])))
    write_text_atomic(path, text + "\n")
