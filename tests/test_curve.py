"""The held-out curve (``eval.curve_every``): points while training, on the cells the trial is judged
on, without changing what is trained."""

import json
from dataclasses import replace

import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.datasets import load_dataset
from caseray.data.tokenizers import build_tokenizer
from caseray.sweep.spec import SweepSpec
from caseray.train.runtime import Runtime
from caseray.train.spec import TrainSpec
from caseray.trial import curve as curve_module
from caseray.trial.curve import curve_parts, read_points
from caseray.trial.run import run_trial
from caseray.trial.spec import EvalSpec, TrialSpec, check_curve
from tests.helpers import tiny_spec

STEPS = TrainSpec(steps=100, lr=3e-3, batch_size=32, log_every=25, checkpoint_every=25)


def with_curve(every: int = 25, **fields) -> TrialSpec:
    return tiny_spec(train=STEPS, eval=EvalSpec(batch_size=256, curve_every=every), save_model=True, **fields)


def test_a_curve_trains_exactly_as_without_and_ends_on_the_trials_own_scores(tmp_path):
    """Points at 0, 25, 50, 75, 100; the weights and every cell as the same trial without a curve; the last
    point's scores are the trial's own (all 49 test and 351 training cells: fewer than CURVE_ROWS)."""
    spec, plain = with_curve(), tiny_spec(train=STEPS, save_model=True)
    assert spec.name != plain.name and plain.name == tiny_spec(train=STEPS).name
    got = run_trial(spec, tmp_path)
    run_trial(plain, tmp_path)
    a = load_file(tmp_path / spec.name / "model" / "model.safetensors")
    b = load_file(tmp_path / plain.name / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    cells = [pq.read_table(tmp_path / s.name / "cells.parquet") for s in (spec, plain)]
    assert cells[0].equals(cells[1])
    curve = json.loads((tmp_path / spec.name / "curve.json").read_text())
    assert curve["step"] == [0, 25, 50, 75, 100] and set(curve) == {"step", "test_acc", "train_acc", "centre_acc"}
    assert curve["test_acc"][-1] == pytest.approx(got.metrics["test_acc"])
    assert curve["centre_acc"][-1] == pytest.approx(got.metrics["centre_acc"])
    assert all(0 <= v <= 1 for k in ("test_acc", "train_acc") for v in curve[k])
    assert curve["train_acc"][-1] == pytest.approx(got.metrics["train_acc"])  # (all 351 training cells)
    assert curve["train_acc"][0] < curve["train_acc"][-1]  # untrained: nothing; trained a little: some
    assert (tmp_path / spec.name / "curve.png").stat().st_size > 5_000


def test_a_resumed_trial_keeps_the_points_measured_before_the_crash(tmp_path):
    spec = with_curve()
    run_trial(spec, tmp_path / "straight")
    run_trial(spec, tmp_path / "crashed", stop_after=60)  # dies after step 60; checkpoint at 50
    assert [p["step"] for p in read_points(tmp_path / "crashed" / spec.name / "curve.jsonl")] == [0, 25, 50]
    with open(tmp_path / "crashed" / spec.name / "curve.jsonl", "a") as f:
        f.write('{"step": 75, "test_')  # a line a crash cut short: skipped
    run_trial(spec, tmp_path / "crashed")
    straight, resumed = (json.loads((tmp_path / d / spec.name / "curve.json").read_text())
                         for d in ("straight", "crashed"))
    assert resumed == straight  # every point, each once, bit-identical training on the CPU


def test_the_parts_are_the_test_cells_a_sample_of_training_cells_and_the_centres(monkeypatch, tmp_path):
    """Counted on the grid by loops: 0-19 with two h = 2 squares: 50 test cells, 2 centres."""
    spec = tiny_spec(split=from_dict(TrialSpec, {"split": {"kind": "squares",
                                                           "squares": [[5, 5, 2], [14, 12, 2]]}}).split)
    table = load_dataset(spec.data_spec(), tmp_path, tokenizer=build_tokenizer(spec.tokenizer))
    monkeypatch.setattr(curve_module, "CURVE_ROWS", 30)
    parts = curve_parts(spec, table)
    held = {(a, b) for a0, b0 in [(5, 5), (14, 12)] for a in range(a0 - 2, a0 + 3) for b in range(b0 - 2, b0 + 3)}
    assert len(held) == 50
    assert len(parts["test"]) == 30 and set(parts["test"]["split"].to_pylist()) == {"test"}
    assert len(parts["train"]) == 30 and set(parts["train"]["split"].to_pylist()) == {"train"}
    centres = set(zip(parts["centre"]["a"].to_pylist(), parts["centre"]["b"].to_pylist()))
    assert centres == {(5, 5), (14, 12)}
    tested = set(zip(parts["test"]["a"].to_pylist(), parts["test"]["b"].to_pylist()))
    assert tested <= held and len(tested) == 30
    again = curve_parts(spec, table)  # seeded: the same sample every time
    assert again["train"]["a"].to_pylist() == parts["train"]["a"].to_pylist()
    random = curve_parts(replace(spec, split=replace(spec.split, kind="random", test_size=40)), table)
    assert "centre" not in random  # no squares, no centres


def test_bad_curve_settings_are_refused_naming_the_field():
    for bad, words in [(-1, "minimum"), (2.5, "integer"), ("often", "integer")]:
        with pytest.raises(SpecError) as err:
            from_dict(TrialSpec, {"eval": {"curve_every": bad}})
        assert err.value.field == "eval.curve_every" and words in str(err.value)
    with pytest.raises(SpecError, match="ZeRO stage 3") as err:
        check_curve(with_curve(), Runtime("deepspeed", zero_stage=3))
    assert err.value.field == "eval.curve_every"
    check_curve(with_curve(), Runtime("deepspeed", zero_stage=2))
    check_curve(tiny_spec(), Runtime("deepspeed", zero_stage=3))  # no curve: nothing to refuse
    sweep = from_dict(SweepSpec, {"name": "z3", "base": {"eval": {"curve_every": 10}}, "axes": {"seed": [0]},
                                  "resources": {"backend": "deepspeed", "zero_stage": 3}})
    with pytest.raises(SpecError, match="ZeRO stage 3"):
        sweep.trials()
    assert len(from_dict(SweepSpec, {"name": "z2", "base": {"eval": {"curve_every": 10}},
                                     "axes": {"seed": [0]}}).trials()) == 1


def test_the_report_draws_each_groups_curves_and_tabulates_them_by_hand(tmp_path):
    """Planted: without decay the centre is right from step 20 on; with decay right at 10-20, then wrong.
    Seeds 0 and 1 differ by a constant 0.1 on test: mean ± std worked out here."""
    from caseray.report.build import build_report
    from synthetic import record

    def planted(seed, decay, centre):
        r = record(seed=seed)
        spec = replace(r.spec, train=replace(r.spec.train, weight_decay=decay))
        curve = {"step": [0, 10, 20, 30, 40], "test_acc": [0.0, 0.2 + 0.1 * seed, 0.4 + 0.1 * seed, 0.5, 0.5],
                 "train_acc": [0.0, 0.5, 0.9, 1.0, 1.0], "centre_acc": centre}
        return replace(r, spec=spec, curve=curve)

    records = [planted(s, 0.0, [0, 0, 1, 1, 1]) for s in (0, 1)] + [planted(s, 1.0, [0, 1, 1, 0, 0]) for s in (0, 1)]
    text = build_report("curves-0001", records, tmp_path).read_text()
    assert "## Held-out curves: exact match during training" in text
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): [c.strip() for c in line.split("|")[3:-1]]
            for line in text.splitlines() if line.startswith("| weight_decay=")}
    # quarters of 5 points: steps 0, 10, 20, 30, 40
    assert rows[("weight_decay=0.0", "centre")] == ["2", "0.00 ± 0.00", "0.00 ± 0.00", "1.00 ± 0.00", "1.00 ± 0.00",
                                                      "1.00 ± 0.00", "1.00 at step 20"]
    assert rows[("weight_decay=1.0", "centre")][-2:] == ["0.00 ± 0.00", "1.00 at step 10"]
    assert rows[("weight_decay=0.0", "test")][2] == "0.25 ± 0.07"  # 0.2 and 0.3: sd 0.0707
    assert (tmp_path / "curves_held_out.png").stat().st_size > 10_000
    assert "Held-out curves" not in build_report("plain-0001", [record(seed=0), record(seed=1)],
                                                 tmp_path / "plain").read_text()


def test_a_length_trials_curve_scores_its_test_problems_and_sampled_training_problems(monkeypatch, tmp_path):
    """Trained on 1-2 digits (1,500 per length), tested on 1-4: the test part is every test problem, the
    training part the 40 per training length the trial evaluates; no centres."""
    spec = from_dict(TrialSpec, {"task": {"name": "addition"}, "tokenizer": "digit", "lengths": {
        "train_digits": [1, 2], "test_digits": [1, 4], "train_per_length": 1500, "test_per_length": 40}})
    table = load_dataset(spec.data_spec(), tmp_path, tokenizer=build_tokenizer(spec.tokenizer))
    parts = curve_parts(spec, table)
    assert set(parts) == {"test", "train"}
    tested = sum(s == "test" for s in table["split"].to_pylist())  # 40 per length and family: under CURVE_ROWS
    assert len(parts["test"]) == tested and sorted(set(parts["test"]["n_digits"].to_pylist())) == [1, 2, 3, 4]
    assert set(parts["train"]["split"].to_pylist()) == {"train"} and len(parts["train"]) <= 80  # 40 per length
