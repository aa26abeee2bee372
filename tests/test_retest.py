"""``caseray analyze retest``: a saved length trial's model on fresh problems (``caseray.trial.retest``).
What is right is computed here from the problems by integer arithmetic, not taken from the evaluation."""

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.trial.retest import fresh_spec, retest
from caseray.trial.spec import TrialSpec, stored_spec

LENGTHS = {"train_digits": [1, 3], "test_digits": [1, 4], "train_per_length": 300, "test_per_length": 3}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from caseray.trial.run import run_trial

    spec = from_dict(TrialSpec, {"format": "direct", "tokenizer": "digit", "format_options": {"reverse": True,
                                 "carries": True}, "model": {"scale": "llama-tiny", "positions": "coupled_random",
                                 "attention": "id_alibi", "mark_ends": True}, "lengths": LENGTHS,
                                 "train": {"steps": 150, "batch_size": 32, "lr": 3e-3}, "save_model": True})
    return run_trial(spec, tmp_path_factory.mktemp("trial")).out_dir


def test_fresh_problems_at_the_asked_lengths_scored_as_integer_arithmetic_says(trained, tmp_path):
    out, metrics = retest(trained, [2, 6], 5, 9, tmp_path)
    cells = pq.read_table(out / "cells.parquet").to_pandas()
    own = pq.read_table(trained / "cells.parquet").to_pandas()
    assert sorted(set(cells.n_digits)) == [2, 6] and len(cells) == 2 * 5 * 5  # every family, 5 each
    assert (cells[["digits_a", "digits_b"]].max(axis=1) == cells.n_digits).all()
    fresh = set(zip(cells.a, cells.b)) - set(zip(own.a, own.b))
    assert len(fresh) >= 0.8 * len(set(zip(cells.a, cells.b)))  # another seed: mostly problems never tested
    read = stored_spec(json.loads((trained / "spec.json").read_text())).answer_format().read_answer
    wrong = cells[~cells.greedy_correct]
    assert len(wrong) > 0  # a 150-step model: some are wrong, and each says something other than a + b
    for _, row in wrong.iterrows():
        assert read(row.output.split("\n")[0]) != str(int(row.a) + int(row.b)), row.output
    for n in (2, 6):
        assert metrics[f"len_acc/{n}"] == pytest.approx(cells[cells.n_digits == n].greedy_correct.mean())
    asked = json.loads((out / "retest.json").read_text())
    assert asked["digits"] == [2, 6] and asked["data_seed"] == 9 and asked["per_length"] == 5


def test_the_trials_own_seed_a_grid_trial_and_a_too_small_id_range_are_refused_before_writing(trained, tmp_path):
    spec = stored_spec(json.loads((trained / "spec.json").read_text()))
    with pytest.raises(SpecError, match=r"^--data-seed: 0 is the trial's own seed"):
        fresh_spec(spec, 6, 5, 0)
    with pytest.raises(SpecError, match=r"^model.coupled_ids"):  # 64 ids do not reach 70-digit problems
        fresh_spec(spec, 70, 5, 9)
    with pytest.raises(SpecError, match=r"^trial: .* is a grid trial"):
        fresh_spec(from_dict(TrialSpec, {"format": "direct"}), 6, 5, 9)
    run = subprocess.run([sys.executable, "-m", "caseray", "analyze", "retest", str(trained), "--digits", "6",
                          "--per-length", "0", "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 2 and "--per-length" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_slope_scale_changes_the_bias_only_at_test_and_keeps_unscaled_names(trained, tmp_path, monkeypatch):
    import caseray.trial.retest as module

    seen, evaluate = [], module.evaluate_cells
    monkeypatch.setattr(module, "evaluate_cells", lambda spec, model, *a: seen.append(
        list(model.config.caseray_id_alibi_slopes)) or evaluate(spec, model, *a))
    plain, _ = retest(trained, [4], 5, 9, tmp_path)
    again, _ = retest(trained, [4], 5, 9, tmp_path / "again", slope_scale=1.0)
    steep, _ = retest(trained, [4], 5, 9, tmp_path, slope_scale=16.0)
    assert seen == [[1.0, 0.25, 0.0625, 0.015625]] * 2 + [[16.0, 4.0, 1.0, 0.25]]  # what the model ran with
    assert plain.name == again.name != steep.name  # an unscaled retest keeps its name
    assert json.loads((steep / "retest.json").read_text())["slope_scale"] == 16.0
    outputs = [pq.read_table(d / "cells.parquet").column("output").to_pylist() for d in (plain, again, steep)]
    assert outputs[0] == outputs[1] and outputs[0] != outputs[2]  # the same problems, another bias


def test_a_slope_scale_is_refused_without_slopes_or_out_of_range_before_writing(trained, tmp_path):
    plain = tmp_path / "softmax"
    (plain / "model").mkdir(parents=True)
    spec = json.loads((trained / "spec.json").read_text())
    spec["model"]["attention"], spec["model"]["mark_ends"] = "softmax", False
    (plain / "spec.json").write_text(json.dumps(spec))
    (plain / "model" / "config.json").write_text("{}")
    with pytest.raises(SpecError, match=r"^--slope-scale: .* has softmax attention: no slopes to scale"):
        retest(plain, [4], 5, 9, tmp_path / "out", slope_scale=0.5)
    for bad in ("0", "-1", "inf", "nan"):
        run = subprocess.run([sys.executable, "-m", "caseray", "analyze", "retest", str(trained), "--digits", "4",
                              "--slope-scale", bad, "--out", str(tmp_path / "out")], capture_output=True, text=True)
        assert run.returncode == 2 and "--slope-scale" in run.stderr and "Traceback" not in run.stderr, bad
    assert not (tmp_path / "out").exists()
