"""Length trials: n-digit additions trained on short lengths and tested on longer ones."""

import json
import re

import numpy as np
import pyarrow as pa
import pytest
import torch

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.train.evaluate import _step_acc
from caseray.trial.cells import count_lines
from caseray.trial.metrics import summarize_lengths
from caseray.trial.run import run_trial
from caseray.trial.spec import TrialSpec

LENGTHS = {"train_digits": [1, 2], "test_digits": [1, 4], "train_per_length": 1500, "test_per_length": 40}


def length_spec(**overrides) -> TrialSpec:
    data = {"task": {"name": "addition"}, "tokenizer": "digit", "lengths": LENGTHS, "save_model": False,
            "train": {"steps": 1500, "batch_size": 64, "lr": 1e-3, "log_every": 500}}
    return from_dict(TrialSpec, {**data, **overrides})


def test_a_length_trial_is_named_and_validated():
    spec = length_spec(format="scratchpad")
    assert spec.name.startswith("addition-scratchpad-digit-length-")
    assert spec.data_spec().train_digits == (1, 2) and spec.data_spec().test_digits == (1, 4)
    for bad, words in [({"lengths": {"train_digits": [3, 1]}}, "lengths.train_digits[1]: 1 is below the minimum 3"),
                       ({"task": {"name": "linear"}}, "task.name: task 'linear' has no n-digit problems"),
                       ({"data_size": 10}, "data_size: a length trial sizes its data with lengths.train_per_length"),
                       ({"split": {"half_width": 2}}, "split: a length trial (lengths set) has no grid split"),
                       ({"lengths": {"test_per_length": 0}}, "lengths.test_per_length: 0 is below the minimum 1")]:
        with pytest.raises(SpecError, match=re.escape(words)):
            length_spec(**bad)


def test_fields_added_later_leave_the_names_of_existing_trials_alone():
    # the default trial's hash before `lengths` and `train.length_buckets` existed
    assert TrialSpec().hash == "d0c15059fd7d"
    assert from_dict(TrialSpec, {"train": {"length_buckets": 4}}).hash != "d0c15059fd7d"


def test_step_accuracy_counts_lines_right_token_by_token():
    nl, ign = 3, -100
    # targets: "12\n5<eos>" and "7\n8\n9<eos>" (eos = 2); ok marks which predictions were right
    target = torch.tensor([[ign, 10, 11, nl, 12, 2, ign], [14, nl, 15, nl, 16, 2, ign]])
    ok = torch.tensor([[True, True, False, True, True, True, True],    # line 0 wrong, line 1 right
                       [True, True, True, True, False, True, True]])  # lines 0, 1 right, line 2 wrong
    acc = _step_acc(ok, target, torch.tensor([nl]))
    assert acc.tolist() == pytest.approx([1 / 2, 2 / 3])
    rows = pa.chunked_array([[[10, 11, nl, 12, 2], [14, nl, 15, nl, 16, 2], [5, 2]]])
    assert count_lines(rows, [nl]).tolist() == [2, 3, 1]


def test_length_metrics_split_trained_and_longer_lengths():
    n = np.array([1, 1, 2, 2, 3, 3, 4, 4, 1, 2])
    split = np.array(["test"] * 8 + ["train"] * 2)
    acc = np.array([1, 1, 1, 0.5, 1, 1, 0, 0, 1, 1], dtype=float)
    m = summarize_lengths(split, acc, n, (1, 2), step_acc=acc / 2)
    assert (m["id_acc"], m["ood_acc"], m["train_acc"]) == (pytest.approx(0.875), pytest.approx(0.5), 1.0)
    assert (m["len_acc/2"], m["len_acc/3"], m["len_step_acc/1"]) == (0.75, 1.0, 0.5)
    assert m["reach"] == 1  # length 2 is below 0.9, so 3 does not count


@pytest.mark.slow
def test_a_direct_model_learns_its_lengths_and_fails_beyond_them(tmp_path):
    result = run_trial(length_spec(format="direct"), tmp_path)
    m = result.metrics
    # it learned the trained lengths -- the equal-length problems it trained on (not mixed lengths, which
    # it never saw: docs/FINDINGS.md, "Mixed lengths and carry chains"; nor all of the single-digit facts
    # the test holds out)
    assert m["train_acc"] > 0.9 and m["family_len_acc/equal/2"] > 0.8, m
    assert m["len_acc/4"] < 0.2 and m["reach"] <= 3, m  # and does not carry them to 4 digits
    cells = __import__("pyarrow.parquet", fromlist=["x"]).read_table(result.out_dir / "cells.parquet")
    assert {"n_digits", "step_acc", "n_steps", "first_wrong_step"} <= set(cells.column_names)
    assert (result.out_dir / "holemap.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((result.out_dir / "metrics.json").read_text())["reach"] == m["reach"]


def test_a_length_trial_evaluates_its_test_problems_and_a_sample_of_training_ones():
    from caseray.data.datasets import load_dataset
    from caseray.trial.eval_rows import evaluation_rows

    spec = length_spec(format="rule_following_numbered")
    table = load_dataset(spec.data_spec())
    rows = evaluation_rows(spec, table)
    split = rows["split"].to_numpy(zero_copy_only=False)
    assert (split == "test").sum() == (table["split"].to_numpy(zero_copy_only=False) == "test").sum()
    per_length = np.bincount(rows["n_digits"].to_numpy()[split == "train"])
    assert per_length[1:].tolist() == [40, 40]  # test_per_length of each trained length
    assert evaluation_rows(spec, table).equals(rows)  # seeded


def length_record(fmt: str, seed: int, keep: int):
    """A length trial trained on 1-3 digits, tested on 1-6, exactly right up to ``keep`` digits; past
    it, half its steps right and the first wrong one at 3/4 of the solution."""
    from caseray.sweep.results import TrialRecord

    n = np.repeat(np.arange(1, 7), 10)
    split = np.where((n <= 3) & (np.arange(len(n)) % 2 == 0), "train", "test")
    right = n <= keep
    steps = 4 * n
    cells = pa.table({"a": [str(i) for i in range(len(n))], "b": ["0"] * len(n), "n_digits": n, "split": split,
                      "accuracy": right.astype(float), "step_acc": np.where(right, 1.0, 0.5),
                      "first_wrong_step": np.where(right, -1, 3 * n), "n_steps": steps})
    spec = length_spec(format=fmt, seed=seed, lengths={"train_digits": [1, 3], "test_digits": [1, 6]})
    return TrialRecord(spec, {"reach": keep, "id_acc": 1.0, "ood_acc": 0.0}, cells)


def test_length_profiles_and_the_report_of_a_length_sweep(tmp_path):
    from caseray.report import aggregate
    from caseray.report.build import build_report

    recs = [length_record("rule_following", s, keep=4 + s) for s in (0, 1, 2)] + \
           [length_record("direct", s, keep=3) for s in (0, 1, 2)]
    x, mean, _, n = aggregate.curve(recs[:3], "digits", "step_acc")
    assert list(x) == [1, 2, 3, 4, 5, 6] and list(n) == [3] * 6 and mean == pytest.approx([1, 1, 1, 1, 5 / 6, 4 / 6])
    x, mean, _, n = aggregate.curve(recs[3:], "digits", "first_wrong")  # failures only: lengths 4-6
    assert list(x) == [4, 5, 6] and mean == pytest.approx([0.75, 0.75, 0.75])
    path = build_report("rfft-00000000", recs, tmp_path)
    text = path.read_text()
    assert "length.png" in text and "holemaps.png" not in text and "signature.png" not in text
    assert (tmp_path / "length.png").stat().st_size > 0
    header = (tmp_path / "summary.csv").read_text().splitlines()[0]
    assert header.startswith("format,trials,seeds") and "reach" in header and "ood_acc" in header


def load_preset(name: str) -> dict:
    from caseray.presets import preset

    return preset("rfft_length", name)


@pytest.mark.slow
def test_the_length_sweep_runs_a_local_checkpoint_with_lora(ray_local, tmp_path):
    """The paper's setting on a user's own weights: the rfft_length sweep, unchanged but for the
    model (a tiny saved GPT-2 checkpoint with its BPE tokenizer, LoRA on), on embedded Ray."""
    import argparse

    from caseray.cli.sweep import build_sweep
    from caseray.sweep.ray import run_sweep
    from caseray.sweep.tracking import Tracker
    from helpers import save_tiny_checkpoint

    save_tiny_checkpoint(tmp_path / "ck")
    args = argparse.Namespace(
        set=[f"model.scale=path:{tmp_path / 'ck'}", f"tokenizer=hf:{tmp_path / 'ck'}", "model.lora.rank=4",
             "lengths.train_per_length=200", "lengths.test_per_length=10", "lengths.train_digits=[1,2]",
             "lengths.test_digits=[1,3]", "device=cpu"],
        axis=["format=[direct]", "model.scale=[path:" + str(tmp_path / "ck") + "]", "train.steps=[20]", "seed=[0]"],
        storage=str(tmp_path / "out"), tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", cpus_per_trial=None)
    sweep = build_sweep(load_preset("smoke"), args)
    outcomes = run_sweep(sweep)
    assert len(outcomes) == 3 and all(o.error is None and o.metrics for o in outcomes)  # one per batch size
    for o in outcomes:
        assert o.spec.model.lora.rank == 4 and o.spec.lengths.train_digits == (1, 2)
        assert {"len_acc/3", "reach", "ood_acc", "step_acc"} <= set(o.metrics)
    tracker = Tracker(sweep.tracking_uri)
    assert len(tracker.children(tracker.parent_of(sweep.id))) == 3


def test_evaluation_batches_hold_a_bounded_number_of_tokens():
    from caseray.train.batches import Batchable
    from caseray.train.evaluate import _batches

    lengths = torch.tensor([3000, 10, 12, 2500, 11, 4000] + [20] * 50)
    data = Batchable(*(torch.zeros(len(lengths), 1),) * 3, lengths, torch.ones(len(lengths)))
    batches = list(_batches(data, batch_size=32, max_tokens=8000))
    assert sorted(int(i) for b in batches for i in b) == list(range(len(lengths)))  # every row once
    for b in batches:
        assert len(b) <= 32 and (len(b) == 1 or len(b) * int(lengths[b].max()) <= 8000)
    assert [len(b) for b in batches] == [32, 21, 2, 1]  # 32 short; 21 short; 2500 + 3000; 4000 alone


def test_length_data_holds_every_family_and_what_each_row_says_it_is():
    """Columns checked by plain arithmetic on the operand strings: length = the longer operand's digits,
    digits_a / digits_b, the family's property; tests hold every family, training the ones asked for."""
    from caseray.data.datasets import load_dataset

    spec = length_spec(lengths={**LENGTHS, "train_per_length": 200, "test_per_length": 12,
                                "train_families": ["equal", "mixed"]})
    table = load_dataset(spec.data_spec())
    rows = table.select(["a", "b", "n_digits", "digits_a", "digits_b", "family", "split", "answer"]).to_pylist()
    for r in rows:
        a, b = int(r["a"]), int(r["b"])
        assert (r["digits_a"], r["digits_b"]) == (len(r["a"]), len(r["b"])) and r["answer"] == str(a + b)
        assert r["n_digits"] == max(len(r["a"]), len(r["b"]))
        if r["family"] == "equal":
            assert len(r["a"]) == len(r["b"])
        if r["family"] == "carry":
            assert a + b == 10 ** r["n_digits"] or a == b == 10 ** r["n_digits"] - 1
        if r["family"] == "zero":
            assert 0 in (a, b)
    test = [(r["family"], r["n_digits"]) for r in rows if r["split"] == "test"]
    assert {f for f, _ in test} == {"equal", "mixed", "short_long", "carry", "zero"}
    assert {n for _, n in test} == {1, 2, 3, 4}
    assert {r["family"] for r in rows if r["split"] == "train"} == {"equal", "mixed"}
    pairs = [(r["a"], r["b"]) for r in rows]
    assert len(pairs) == len(set(pairs))  # no test problem is also a training one
    assert any(len(r["a"]) != len(r["b"]) for r in rows if r["split"] == "train")  # 999+1 is trained on


@pytest.mark.parametrize("bad, words", [
    ({"train_families": ["equal", "nines"]}, "lengths.train_families: ['equal', 'nines'] is not a non-empty list"),
    ({"test_families": []}, "lengths.test_families: [] is not a non-empty list"),
    ({"test_families": ["carry", "carry"]}, "lengths.test_families"),
    ({"test_families": "carry"}, "lengths.test_families"),
])
def test_bad_families_name_their_field(bad, words):
    with pytest.raises(SpecError, match=re.escape(words)):
        length_spec(lengths={**LENGTHS, **bad})


def test_old_length_trials_keep_their_names_and_their_problems():
    """A spec stored before the families (length data version 2) reads back with the name it had and
    re-runs on the very problems it had: both pinned from the code as it stood then (bfd5415). A new
    spec (version 3, every family in its tests) is another experiment with another name."""
    import hashlib
    import json as _json

    from caseray.core.specs import to_dict
    from caseray.data.datasets import load_dataset
    from caseray.trial.spec import stored_spec

    new = length_spec(format="direct")
    old = to_dict(new)
    for key in ("test_families", "train_families", "version"):
        del old["lengths"][key]
    legacy = stored_spec(old)
    assert legacy.lengths.version == 2 and legacy.lengths.test_families == ("equal",)
    assert legacy.name == "addition-direct-digit-length-8b9961ca608a" != new.name
    assert stored_spec(to_dict(new)).name == new.name
    table = load_dataset(legacy.data_spec())
    rows = list(zip(table["a"].to_pylist(), table["b"].to_pylist(), table["split"].to_pylist()))
    assert (len(rows), hashlib.sha256(_json.dumps(rows).encode()).hexdigest()[:16]) == (1720, "624386322c6e598c")
    with pytest.raises(SpecError, match="lengths.version: length data version 2 held equal lengths only"):
        length_spec(lengths={**LENGTHS, "version": 2})  # (its tests would hold every family)


def test_family_metrics_by_family_length_and_answer_digits():
    from caseray.trial.metrics import family_metrics

    split = np.array(["test"] * 6 + ["train"])
    acc = np.array([1, 1, 0, 1, 0, 0, 1], dtype=float)
    n = np.array([1, 2, 2, 3, 3, 1, 1])
    family = np.array(["equal", "equal", "mixed", "mixed", "carry", "carry", "mixed"])
    answer_digits = np.array([1, 3, 2, 3, 4, 2, 1])
    m = family_metrics(split, acc, n, family, answer_digits)
    assert (m["family_acc/equal"], m["family_acc/mixed"], m["family_acc/carry"]) == (1.0, 0.5, 0.0)
    assert m["family_len_acc/mixed/2"] == 0.0 and m["family_len_acc/mixed/3"] == 1.0
    assert m["family_reach/equal"] == 2 and m["family_reach/mixed"] == 0 and m["family_reach/carry"] == 0
    assert m["answer_digits_acc/3"] == 1.0 and m["answer_digits_acc/2"] == 0.0 and "answer_digits_acc/1" in m


def family_record(train_families: list[str], seed: int, mixed_right: bool):
    """A length trial trained on 1-3 digits, tested on 1-6: equal problems right, mixed ones right only
    if ``mixed_right``; its metrics from ``family_metrics`` itself."""
    from caseray.sweep.results import TrialRecord
    from caseray.trial.metrics import family_metrics

    n = np.repeat(np.arange(1, 7), 4)
    family = np.tile(["equal", "equal", "mixed", "mixed"], 6)
    da = n
    db = np.where(family == "equal", n, 1)
    acc = np.where(family == "equal", 1.0, float(mixed_right))
    split = np.array(["test"] * len(n))
    cells = pa.table({"a": ["1" * int(k) for k in da], "b": ["2" * int(k) for k in db], "n_digits": n,
                      "digits_a": da, "digits_b": db, "family": family, "split": split, "accuracy": acc})
    metrics = family_metrics(split, acc, n, family, n)
    spec = length_spec(seed=seed, lengths={"train_digits": [1, 3], "test_digits": [1, 6],
                                           "train_families": train_families})
    return TrialRecord(spec, {"reach": 6, "id_acc": 1.0, "ood_acc": 1.0, **metrics}, cells)


def test_the_report_draws_each_family_and_the_operand_length_map(tmp_path):
    from caseray.report.figures import family_curves

    records = [family_record(["equal"], s, False) for s in (0, 1)] + \
        [family_record(["equal", "mixed"], s, True) for s in (0, 1)]
    path = family_curves(records, ["lengths.train_families"], tmp_path / "families.png")
    assert path is not None and path.read_bytes()[:4] == b"\x89PNG"
    assert family_curves([length_record("direct", 0, 3)], ["seed"], tmp_path / "none.png") is None  # no families


def test_a_trial_figure_draws_steps_right_only_for_answers_of_several_steps():
    """A direct answer is one step (its step accuracy is its exact match again); a trace has several;
    without the column the curve is drawn as before."""
    import pyarrow as pa

    from caseray.trial.figures import several_steps

    assert not several_steps(pa.table({"n_steps": [1, 1, 1]}))
    assert several_steps(pa.table({"n_steps": [1, 4, 2]}))
    assert several_steps(pa.table({"a": ["1"]})) and several_steps(None)
