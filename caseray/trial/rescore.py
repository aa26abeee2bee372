"""A finished trial's saved model evaluated again with a test-time change -- today ``model.attention:
logn``, which leaves training untouched (its factor is exactly 1 on every training row), so the same
weights are scored both ways: a paired comparison. Writes ``OUT/<the changed spec's name>/``: spec.json,
cells.parquet, metrics.json (the trial's own evaluation and metrics) and rescored_from.txt."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow.compute as pc

from caseray.core.atomic import write_text_atomic
from caseray.core.errors import SpecError
from caseray.data.datasets import load_dataset, write_parquet_atomic
from caseray.data.tasks import build_task
from caseray.data.tokenizers import load_tokenizer
from caseray.train.attention import scale_attention
from caseray.train.batches import longest_row
from caseray.train.models import load_trained
from caseray.trial.cells import evaluate_cells, trial_metrics
from caseray.trial.eval_rows import evaluation_rows
from caseray.trial.spec import TrialSpec, stored_spec


def saved_trial(folder: str | Path, field: str = "trial") -> tuple[Path, TrialSpec]:
    """A trial folder with a saved model, and its spec; bad input names ``field``."""
    folder = Path(folder)
    if not (folder / "spec.json").is_file():
        raise SpecError(field, f"no trial in {folder} (no spec.json)", "a finished trial's folder")
    if not (folder / "model" / "config.json").is_file():
        raise SpecError(field, f"no saved model in {folder}", "a trial run with save_model: true")
    return folder, stored_spec(json.loads((folder / "spec.json").read_text()))


def training_base(table) -> int:
    """``logn``'s base: the longest training row of a trial's dataset table."""
    return longest_row(table.filter(pc.equal(table["split"], "train")))


def check_plain_attention(folder: Path, spec: TrialSpec) -> None:
    """A test-time change is compared against the trial's plain attention: refuse any other."""
    if spec.model.attention != "softmax":
        raise SpecError("trial", f"{folder.name} was trained with {spec.model.attention} attention; a test-time "
                        "change is measured against plain attention", "a trial with model.attention: softmax")


def with_test_time_logn(folder: Path, spec: TrialSpec, model, tokenizer):
    """``model`` (the trial's, trained with plain attention) with ``logn`` at the trial's own base."""
    check_plain_attention(folder, spec)
    scale_attention(model, training_base(load_dataset(spec.data_spec(), tokenizer=tokenizer)))
    return model


def rescore(folder: str | Path, attention: str, out_root: str | Path) -> tuple[Path, dict]:
    import torch

    folder, old = saved_trial(folder)
    check_plain_attention(folder, old)
    spec = replace(old, model=replace(old.model, attention=attention))  # (validated: a GPT-2 is refused)
    tokenizer = load_tokenizer(folder / "tokenizer")
    table = load_dataset(spec.data_spec(), tokenizer=tokenizer)
    model = load_trained(old.model, folder / "model").eval()
    scale_attention(model, training_base(table))
    seconds = {}
    cells = evaluate_cells(spec, model, evaluation_rows(spec, table), tokenizer, torch.device("cpu"), seconds)
    metrics = {**trial_metrics(spec, build_task(spec.task), cells), **seconds}
    out = Path(out_root) / spec.name
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "spec.json", json.dumps(spec.to_dict(), indent=2))
    write_text_atomic(out / "rescored_from.txt", f"{folder.resolve()}\n")
    write_parquet_atomic(cells, out / "cells.parquet")
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2))  # last: marks it done
    return out, metrics
