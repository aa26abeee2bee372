"""A finished length trial's saved model on problems its own data never held: a fresh test set drawn
with another data seed, at chosen lengths, many problems per family -- to put a claim made on the
trial's 10 problems per family and length on a larger, unseen sample. The trial's own evaluation
(its ids, its decoding, its metrics) on each length's fresh rows. Writes
``OUT/<trial>-retest-<hash>/``: retest.json (what was asked), cells.parquet, metrics.json.

``slope_scale`` (a diagnostic): an ``id_alibi`` / ``place_alibi`` model's slopes multiplied by it at test
time only -- the same weights under a flatter or steeper bias than they were trained with."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pyarrow as pa

from caseray.core.atomic import write_text_atomic
from caseray.core.errors import SpecError
from caseray.core.specs import stable_hash
from caseray.data.datasets import load_dataset, write_parquet_atomic
from caseray.data.tasks import build_task
from caseray.data.tokenizers import load_tokenizer
from caseray.train.attention import ALIBI_KEY, ALIBI_OVER
from caseray.train.models import load_trained
from caseray.trial.cells import evaluate_cells, trial_metrics
from caseray.trial.rescore import saved_trial
from caseray.trial.spec import TrialSpec


def fresh_spec(old: TrialSpec, digits: int, per_length: int, data_seed: int) -> TrialSpec:
    """``old`` with its test set replaced: ``per_length`` problems of ``digits`` digits per family,
    drawn with ``data_seed``; no training rows (the model is trained)."""
    if old.lengths is None:
        raise SpecError("trial", f"{old.name} is a grid trial", "a length trial (lengths set)")
    if data_seed == old.seed:
        raise SpecError("--data-seed", f"{data_seed} is the trial's own seed: its test problems again",
                        f"any other seed >= 0 (not {old.seed})")
    lengths = replace(old.lengths, test_digits=(digits, digits), train_per_length=0, test_per_length=per_length)
    return replace(old, seed=data_seed, lengths=lengths)  # (validated: an id range too small is refused)


def retest(folder: str | Path, digits: list[int], per_length: int, data_seed: int,
           out_root: str | Path, slope_scale: float = 1.0) -> tuple[Path, dict]:
    import torch

    folder, old = saved_trial(folder)
    specs = [fresh_spec(old, n, per_length, data_seed) for n in digits]  # (every refusal before any work)
    if slope_scale != 1.0 and old.model.attention not in ALIBI_OVER:
        raise SpecError("--slope-scale", f"{old.name} has {old.model.attention} attention: no slopes to scale",
                        ["1", "or a trial with model.attention: id_alibi / place_alibi"])
    tokenizer = load_tokenizer(folder / "tokenizer")
    model = load_trained(old.model, folder / "model").eval()
    if slope_scale != 1.0:  # (the attention reads its slopes from the config at every forward)
        setattr(model.config, ALIBI_KEY, [x * slope_scale for x in getattr(model.config, ALIBI_KEY)])
    parts, metrics = [], {}
    for spec in specs:
        seconds = {}
        cells = evaluate_cells(spec, model, load_dataset(spec.data_spec(), tokenizer=tokenizer), tokenizer,
                               torch.device("cpu"), seconds)
        parts.append(cells)
        metrics.update({k: v for k, v in trial_metrics(spec, build_task(spec.task), cells).items()
                        if k.startswith(("len_acc/", "family_len_acc/"))})
    asked = {"trial": old.name, "folder": str(folder.resolve()), "digits": digits, "per_length": per_length,
             "data_seed": data_seed}
    if slope_scale != 1.0:  # (unscaled retests keep their names)
        asked["slope_scale"] = slope_scale
    out = Path(out_root) / f"{old.name}-retest-{stable_hash({**asked, 'folder': None}, 8)}"
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "retest.json", json.dumps(asked, indent=2))
    write_parquet_atomic(pa.concat_tables(parts), out / "cells.parquet")
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2))  # last: marks it done
    return out, metrics
