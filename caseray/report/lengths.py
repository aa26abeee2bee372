"""The length configurations that the rule-based half is judged on, shared by ``caseray reproduce``
and the rfft_length / halves presets (plain data and spec helpers: no torch, Ray or MLflow, so the
command line reads the presets at once). ``configuration`` names what a trial's model is."""

from __future__ import annotations

import copy

from caseray.core.specs import from_dict
from caseray.data.length_families import FAMILIES
from caseray.sweep.spec import set_dotted
from caseray.train.positions import COUPLED_IDS
from caseray.trial.spec import TrialSpec

SEEDS = [0, 1, 2]


def configuration(s) -> str:
    """What a trial's model is (``s``: its ``TrialSpec``), without what it is trained and tested on:
    format (+ options), tokenizer, scale and positions (and another coupled id range, fixed number
    embeddings, another attention and marked ends, when set)."""
    fixed = f", {s.model.coupled_ids} ids" if s.model.coupled_ids != COUPLED_IDS else ""
    fixed += f", {s.model.number_embeddings} number embeddings" if s.model.number_embeddings != "learned" else ""
    fixed += f", {s.model.attention} attention" if s.model.attention != "softmax" else ""
    fixed += ", ends marked" if s.model.mark_ends else ""
    return f"{s.format_label}, {s.tokenizer}, {s.model.scale}, {s.model.position_kind} positions{fixed}"


def length_config(format_name: str, scale: str, train: dict, options: dict | None = None,
                  positions: str | None = None, seeds=tuple(SEEDS)) -> dict:
    """One length configuration's grid: a format with its options, a scale with its positions, its own
    training budget (the grids of a sweep are joined)."""
    grid = {"format": [format_name], "model.scale": [scale], **{f"train.{k}": [v] for k, v in train.items()},
            "seed": list(seeds)}
    if options:
        grid["format_options"] = [options]
    if positions:
        grid["model.positions"] = [positions]
    return grid


# length trials (shared with sweeps/rfft_length.py --preset quick and sweeps/halves.py): addition with
# digit tokens, trained on 1-5 digits, tested on 1-20
LENGTH_BASE = {"task": {"name": "addition"}, "tokenizer": "digit", "save_model": False,
               "train": {"lr": 1e-3, "log_every": 100}}
# training draws every problem family (docs/FINDINGS.md, "Mixed lengths and carry chains": trained on
# equal lengths only, the rule-following configuration failed 999+1); 20 test problems per family and length
FIVE = {"train_digits": [1, 5], "test_digits": [1, 20], "train_per_length": 20000, "test_per_length": 20,
        "train_families": list(FAMILIES)}
REVERSED = {"reverse": True}
# the rule-following configuration found on CPU: a reversed direct answer, RoPE, coupled ids at
# randomized spacing (docs/FINDINGS.md); 2,000 steps of 128
RULE_BUDGET = {"steps": 2000, "batch_size": 128}
RULE = length_config("direct", "llama-tiny", RULE_BUDGET, REVERSED, "coupled_random")
# its control: the same model, answers, data, budget and coupled ids, randomized by an offset only
BASELINES = [length_config("direct", "llama-tiny", RULE_BUDGET, REVERSED, "coupled")]


def configuration_of(grid: dict) -> str:
    """``configuration`` of a length configuration's grid (its first trial)."""
    data = copy.deepcopy({**LENGTH_BASE, "lengths": FIVE})  # (set_dotted writes into nested groups)
    for key, values in grid.items():
        set_dotted(data, key, values[0])
    return configuration(from_dict(TrialSpec, data))
