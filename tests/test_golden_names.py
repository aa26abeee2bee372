"""Trial, sweep and dataset names are identities: results, caches and MLflow runs are found again by
them. ``golden/preset_names.json`` was written by the code as it stood before the package was
regrouped (the layered-package issue); every preset must still name exactly the same things.

Rewritten once since, on purpose (the hole-statistics issue): dataset names (DATA_VERSION 2: a cell's
ring is measured to its own square's centre), LEMA trial names (they now start from their CoT
trial's initial weights; CoT and every other trial name unchanged), reproduce's sweeps (paired
controls replace the seed-42 random split) and the new hole_radius presets. Extended on purpose by
the rule-based-half issue: reproduce's sweeps gain the length trials (every earlier trial kept), the
old rfft_length ``local`` preset is now ``short`` (its trials unchanged), new ``local``, ``quick``
and ``halves`` presets. The GPU-ready issue changed the cluster presets on purpose: ``device: auto``
(not in a trial's name, but in a sweep's id: lema:paper and rfft_length:paper keep every trial name)
and bf16 training (square_grid:paper and hole_radius:full: new trial names; none had ever run). The
length families (length data version 3) renamed every length trial on purpose: their tests now hold
mixed lengths and carry chains, and the shared 1-5-digit configurations (``FIVE``) train on every
family; no grid trial's name changed. The why-the-diagonal issue added the hole_atlas presets (new
entries; every earlier one unchanged). The rules-that-hold issue added the carries configuration to
rfft_length ``local`` (3 new trials, a new sweep id; its 18 earlier trials unchanged), and rfft_length
``far`` (a new entry: its six trials are the ones docs/sweeps/digit_roles.yaml and mark_ends.yaml ran)."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest

from caseray.cli import hole_check
from caseray.cli.sweep import build_sweep
from caseray.data.datasets import dataset_name
from caseray.presets import SWEEPS, presets
from caseray.report import reproduce

GOLDEN = json.loads((Path(__file__).parent / "golden" / "preset_names.json").read_text())
NO_OVERRIDES = argparse.Namespace(set=[], axis=[], storage=None, tracking_uri=None, cpus_per_trial=None)


def entry(spec) -> dict:
    found = {"trial": spec.name, "dataset": dataset_name(spec.data_spec())}
    if spec.lema is not None:  # the CoT trial a LEMA trial builds on is found by its name too
        found["cot"] = dataclasses.replace(spec, lema=None, save_model=True).name
    return found


def names(data: dict) -> dict:
    sweep = build_sweep(data, NO_OVERRIDES)
    return {"sweep_id": sweep.id, "trials": [entry(s) for s in sweep.trials()]}


CASES = [(f"{sweep}:{name}", sweep, name) for sweep in SWEEPS.names() for name in presets(sweep)]


def test_every_preset_has_a_golden_entry():
    assert {key for key, _, _ in CASES} | {"reproduce:quick", "reproduce:full", "local_hole_check:default"} \
        == set(GOLDEN)


@pytest.mark.parametrize("key, sweep, preset", CASES, ids=[c[0] for c in CASES])
def test_preset_names_unchanged(key, sweep, preset):
    assert names(presets(sweep)[preset]) == GOLDEN[key]


@pytest.mark.parametrize("mode", ["quick", "full"])
def test_reproduce_names_unchanged(mode):
    assert names(reproduce.plan(mode)) == GOLDEN[f"reproduce:{mode}"]


def test_local_hole_check_names_unchanged():
    args = hole_check.parser().parse_args([])
    specs = [hole_check.spec_for(t, k, s, args) for t, k in hole_check.CONDITIONS for s in args.seeds]
    assert {"trials": [entry(s) for s in specs]} == GOLDEN["local_hole_check:default"]
