"""Pretraining as an axis (``init: {trial: ...}``): a trial starts from another trial's trained model,
which runs first and once -- in ``caseray trial`` and in a sweep (a wave of its own)."""

import json
from dataclasses import replace

import pyarrow.parquet as pq
import pytest
import torch

from caseray.cli.main import main
from caseray.core.errors import SpecError
from caseray.core.specs import from_dict, to_dict
from caseray.data.tokenizers import build_tokenizer
from caseray.sweep.spec import SweepSpec, pretraining_first, waves
from caseray.train.models import ModelSpec, build_model, save_trained, start_weights
from caseray.trial.run import run_trial
from caseray.trial.spec import InitSpec, TrialSpec
from tests.helpers import tiny_spec

PRE = {"task": {"name": "linear", "high": 19}, "split": {"center": [10, 10], "half_width": 3},
       "train": {"steps": 20, "batch_size": 32}}


def finetune(pre: dict = PRE, **fields) -> TrialSpec:
    return from_dict(TrialSpec, {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3},
                                 "train": {"steps": 20, "batch_size": 32}, "init": {"trial": pre}, **fields})


@pytest.mark.parametrize("pre, fields, words", [
    ({**PRE, "tokenizer": "digit"}, {}, "init.trial.tokenizer: 'digit', but this trial's tokenizer is 'number'"),
    ({**PRE, "model": {"scale": "small"}}, {}, "init.trial.model.scale: 'small', but this trial's model.scale"),
    ({**PRE, "init": {"trial": PRE}}, {}, "init.trial.init: a pretraining trial starts from scratch"),
    ({**PRE, "task": {"name": "nope"}}, {}, "init.trial.task.name: unknown task"),
    ({**PRE, "split": {"half_width": -1}}, {}, "init.trial.split.half_width"),
    (3, {}, "init.trial: expected a mapping of TrialSpec fields"),
    (PRE, {"format": "scratchpad", "lema": {}}, "init: a LEMA trial starts from its own CoT trial"),
])
def test_a_pretraining_trial_that_cannot_be_the_start_is_refused_naming_the_field(pre, fields, words):
    with pytest.raises(SpecError) as err:
        finetune(pre, **fields)
    assert str(err.value).startswith(words)


def test_the_name_holds_the_pretraining_trials_name_not_its_spelling():
    spelled_out = to_dict(from_dict(TrialSpec, PRE))  # every default written out
    a, b = finetune(PRE), finetune(spelled_out)
    assert a.name == b.name and a.name.startswith("addition-direct-number-square-init-")
    assert a.init.trial.save_model and not from_dict(TrialSpec, {**PRE, "save_model": False}).save_model
    assert finetune({**PRE, "save_model": False}).name == a.name  # forced on: what the fine-tune starts from
    assert finetune({**PRE, "seed": 1}).name != a.name
    plain = from_dict(TrialSpec, {k: v for k, v in to_dict(a).items() if k != "init"})
    assert plain.name == replace(a, init=None).name != a.name  # (no init: the name it always had)
    assert from_dict(TrialSpec, json.loads(json.dumps(to_dict(a)))).name == a.name  # read back from spec.json


def test_start_weights_copies_every_weight_and_fills_a_shorter_position_table(tmp_path):
    tokenizer = build_tokenizer("number")
    for scale, longer in (("tiny", 300), ("llama-tiny", 300)):
        spec = ModelSpec(scale=scale)
        torch.manual_seed(1)
        saved = build_model(spec, tokenizer, max_len=24)
        save_trained(spec, saved, tmp_path / scale)
        torch.manual_seed(2)
        fresh = build_model(spec, tokenizer, max_len=longer, start_from=tmp_path / scale)
        torch.manual_seed(2)
        scratch = build_model(spec, tokenizer, max_len=longer)
        want, got, other = saved.state_dict(), fresh.state_dict(), scratch.state_dict()
        for key, value in got.items():
            if key.endswith("wpe.weight"):  # the saved rows first, the new ones as a fresh model draws them
                assert torch.equal(value[:len(want[key])], want[key])
                assert torch.equal(value[len(want[key]):], other[key][len(want[key]):]) and len(value) > len(want[key])
            else:
                assert torch.equal(value, want[key]), key
    with pytest.raises(ValueError, match="another network"):
        start_weights(build_model(ModelSpec(scale="small"), tokenizer, max_len=24), tmp_path / "tiny")


def test_the_sweep_lists_each_pretraining_trial_once_and_first():
    sweep = from_dict(SweepSpec, {"name": "pre", "base": {"task": {"high": 19}, "init": {"trial": PRE},
                                                          "split": {"center": [10, 10], "half_width": 3}},
                                  "axes": {"seed": [0, 1]}})
    specs = sweep.trials()
    pre = from_dict(TrialSpec, PRE)
    assert [s.name for s in specs][0] == replace(pre, save_model=True).name and len(specs) == 3
    assert [len(w) for w in waves(specs)] == [1, 2] and waves(specs[1:]) == [specs[1:]]
    assert pretraining_first(specs) == specs  # already first: nothing added twice


def test_a_finetune_runs_its_pretraining_once_and_starts_from_its_weights(tmp_path):
    """With a learning rate of ~0 the fine-tune is its pretraining trial's model: the same answer in
    every cell; its from-scratch twin (same seed, same ~0 rate) is not."""
    pre = replace(tiny_spec(train=replace(tiny_spec().train, steps=40)), save_model=True)
    still = replace(pre.train, lr=1e-12, steps=2)
    tuned = replace(pre, train=still, init=InitSpec(trial=pre))
    twin = replace(pre, train=still)
    result = run_trial(tuned, tmp_path)
    done = tmp_path / pre.name / "metrics.json"
    assert done.exists() and result.metrics
    first = done.stat().st_mtime_ns
    cells = {name: pq.read_table(tmp_path / name / "cells.parquet").column("greedy_correct").to_pylist()
             for name in (pre.name, tuned.name, run_trial(twin, tmp_path).out_dir.name)}
    assert cells[tuned.name] == cells[pre.name]
    assert cells[twin.name] != cells[pre.name] and sum(cells[pre.name]) > sum(cells[twin.name])
    other = replace(tuned, seed=1)  # a second fine-tune of the same pretraining: not run again
    run_trial(other, tmp_path)
    assert done.stat().st_mtime_ns == first
    with pytest.raises(RuntimeError, match="has not finished"):
        run_trial(replace(tuned, init=InitSpec(trial=replace(pre, seed=5))), tmp_path, run_pretraining=False)


def test_caseray_trial_refuses_a_bad_init_with_exit_2_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "ft.json"
    spec.write_text(json.dumps({"init": {"trial": {**PRE, "tokenizer": "digit"}}}))
    assert main(["trial", "--spec", str(spec), "--out", str(tmp_path / "out")]) == 2
    assert "init.trial.tokenizer" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_dry_run_names_the_pretraining_trial_it_would_run_first_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "ft.json"
    spec.write_text(json.dumps({"init": {"trial": PRE}}))
    out = tmp_path / "out"
    assert main(["trial", "--spec", str(spec), "--out", str(out), "--dry-run"]) == 0
    pre = from_dict(TrialSpec, PRE)
    assert f"it starts from trial {pre.name}: run first, into {out / pre.name}/" in capsys.readouterr().out
    assert not out.exists()
    (out / pre.name).mkdir(parents=True)  # a finished pretraining trial (as a result reads it): reused
    (out / pre.name / "metrics.json").write_text(json.dumps({"train_acc": 1.0}))
    assert main(["trial", "--spec", str(spec), "--out", str(out), "--dry-run"]) == 0
    assert f"it starts from trial {pre.name}: finished in {out}, its model reused" in capsys.readouterr().out


@pytest.mark.slow
def test_a_sweep_runs_the_pretraining_wave_first_and_a_rerun_runs_nothing_again(ray_local, tmp_path):
    from caseray.sweep.ray import run_sweep

    sweep = from_dict(SweepSpec, {
        "name": "pre", "storage_path": str(tmp_path / "out"), "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "base": {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "save_model": False,
                 "train": {"steps": 20, "batch_size": 32}, "init": {"trial": PRE}},
        "axes": {"seed": [0, 1]}})
    outcomes = run_sweep(sweep)
    assert len(outcomes) == 3 and all(o.error is None and o.metrics for o in outcomes)
    pre = outcomes[0]
    assert pre.spec.init is None and pre.spec.task.name == "linear"
    assert (pre.out_dir / "model" / "config.json").exists()
    done = pre.out_dir / "metrics.json"
    first = done.stat().st_mtime_ns
    started = {o.spec.name: json.loads((o.out_dir / "metrics.json").read_text()) for o in outcomes}
    again = run_sweep(sweep)
    assert {o.spec.name: o.metrics for o in again} == started and done.stat().st_mtime_ns == first


def test_a_dry_run_counts_pretraining_trials_apart_from_controls(tmp_path, capsys):
    sweep = tmp_path / "pre.json"
    sweep.write_text(json.dumps({"name": "pre", "controls": True, "base": {
        "task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "init": {"trial": PRE}},
        "axes": {"seed": [0, 1]}}))
    assert main(["sweep", "run", str(sweep), "--dry-run"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    # 2 fine-tunes, 2 controls (one per seed: the seed draws the random split), 1 shared pretraining trial
    assert "5 trials (2 of them paired random-split controls; 1 pretraining trials, run first)" in first
