"""LEMA end to end on a tiny model: the CoT trial, mistakes (planted and the model's own), exact
corrections, pooled fine-tuning, evaluation -- and the spec errors that come before any of it."""

import json

import pyarrow.parquet as pq
import pytest

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.trial.run import run_trial
from caseray.trial.spec import TrialSpec

BASE = {"task": {"name": "addition", "high": 14}, "format": "scratchpad", "tokenizer": "digit",
        "split": {"kind": "square", "half_width": 2}, "model": {"scale": "tiny"},
        "train": {"steps": 250, "batch_size": 32, "lr": 3e-3, "length_buckets": 2}}


def spec(**lema) -> TrialSpec:
    return from_dict(TrialSpec, {**BASE, "lema": lema or None})


@pytest.fixture(scope="module")
def trials(tmp_path_factory):
    import os

    root = tmp_path_factory.mktemp("lema")
    os.environ["CASERAY_CACHE"] = str(root / "cache")
    cot = run_trial(spec(), root)
    done_at = (cot.out_dir / "metrics.json").stat().st_mtime_ns
    out = {"cot": cot,
           "synthetic": run_trial(spec(mistake_source="synthetic", correction_ratio=0.5), root),
           "own": run_trial(spec(mistake_source="own", samples=2, max_questions=100, temperature=1.5,
                                 correction_ratio=0.25, equal_size=True, ablation="no_explanation"), root)}
    out["cot_untouched"] = (cot.out_dir / "metrics.json").stat().st_mtime_ns == done_at
    return out


@pytest.mark.slow
def test_cot_trial_learned_and_is_reused(trials):
    assert trials["cot"].metrics["train_acc"] > 0.9
    assert trials["cot_untouched"]  # the LEMA trials found the CoT trial finished by its hash
    assert trials["synthetic"].name.startswith("addition-scratchpad-digit-square-lema-")


@pytest.mark.slow
def test_synthetic_mistakes_are_all_corrected_exactly(trials):
    r = trials["synthetic"]
    m = r.metrics
    n_train = trials["cot"].metrics["n_train"]
    assert m["lema/mistakes_used"] == m["lema/corrected"] == round(0.5 * n_train)
    assert m["lema/dropped"] == 0 and m["lema/cot_rows"] == n_train
    table = pq.read_table(r.out_dir / "corrections.parquet").to_pylist()
    assert all(row["step"] == row["planted_line"] for row in table)  # the first wrong step, exactly
    assert m["lema/planted_kind_agrees"] > 0.95
    kinds = {row["planted_kind"] for row in table}
    assert kinds == {"dropped_carry", "wrong_digit", "wrong_copy", "early_stop"}
    first = table[0]
    assert first["target"].startswith(f"Incorrect step {first['step'] + 1}: ") and "\nExplanation: " in first["target"]
    sample = (r.out_dir / "corrections_sample.txt").read_text()
    assert sample.count("### example") == 20 and "Correct solution:" in sample
    # the model trained on CoT + corrections learned to solve the questions (more slowly than CoT
    # alone: ~0.5 against > 0.9 after 250 steps -- corrections take a share of every step)
    assert m["train_acc"] > 0.3


@pytest.mark.slow
def test_own_mistakes_come_from_the_cot_model(trials):
    m = trials["own"].metrics
    assert m["lema/questions_sampled"] == 100 and m["lema/solutions_sampled"] == 200
    assert m["lema/own_wrong"] > 0 and m["lema/corrected"] == m["lema/mistakes_used"] > 0
    assert m["lema/mistakes_used"] == min(m["lema/own_wrong"], round(0.25 * trials["cot"].metrics["n_train"]))
    assert m["lema/dropped"] == 0
    assert m["lema/cot_train_acc"] == trials["cot"].metrics["train_acc"]
    rows = pq.read_table(trials["own"].out_dir / "corrections.parquet").to_pylist()
    assert {r["source"] for r in rows} == {"own"} and all(r["planted_line"] == -1 for r in rows)


@pytest.mark.slow
def test_equal_size_keeps_the_total_and_ablation_drops_the_explanation(trials):
    m = trials["own"].metrics
    assert m["lema/cot_rows"] + m["lema/correction_rows"] == trials["cot"].metrics["n_train"]
    targets = pq.read_table(trials["own"].out_dir / "corrections.parquet")["target"].to_pylist()
    assert not any("Explanation" in t for t in targets) and all("Correct solution:" in t for t in targets)
    assert json.loads((trials["own"].out_dir / "spec.json").read_text())["lema"]["equal_size"] is True


@pytest.mark.parametrize("change,field,allowed", [
    ({"format": "direct"}, "format", "scratchpad"),
    ({"lema": {"error_kinds": ["wrong_base"]}}, "lema.error_kinds[0]", "dropped_carry"),
    ({"lema": {"error_kinds": ["typo"]}}, "lema.error_kinds[0]", "wrong_modulus"),
    ({"lema": {"mistake_source": "gpt4"}}, "lema.mistake_source", "own, synthetic, mixed"),
    ({"lema": {"correction_ratio": 1.0, "equal_size": True}}, "lema.correction_ratio", "below 1"),
    ({"lema": {"ablation": "no_answer"}}, "lema.ablation", "no_step_index"),
])
def test_bad_lema_specs_fail_before_any_work(change, field, allowed):
    data = {**BASE, "lema": {}, **change}
    with pytest.raises(SpecError) as err:
        from_dict(TrialSpec, data)
    assert err.value.field == field and allowed in str(err.value)


def test_lema_leaves_other_trials_names_alone():
    assert from_dict(TrialSpec, BASE).hash == from_dict(TrialSpec, {**BASE, "lema": None}).hash
    assert TrialSpec().hash == "d0c15059fd7d"
    lema = from_dict(TrialSpec, {**BASE, "lema": {}})
    # "3b9e08121d5e" until LEMA trials started from their CoT trial's initial weights: renamed on purpose
    # (lema_init), so results from other initial weights are never reused; quote_step's default adds nothing
    assert lema.hash == "4837fb706276"
    assert from_dict(TrialSpec, {**BASE, "lema": {"quote_step": False}}).hash != lema.hash


def test_report_names_each_arm():
    from caseray.lema.spec import lema_label

    assert lema_label(None) == "CoT alone"
    lema = from_dict(TrialSpec, {**BASE, "lema": {"mistake_source": "own", "correction_ratio": 0.25,
                                                  "equal_size": True, "ablation": "no_explanation"}}).lema
    assert lema_label(lema) == "own 0.25 equal-size no_explanation"


def test_a_lema_sweep_refuses_several_workers_per_trial():
    from caseray.sweep.spec import SweepSpec

    sweep = from_dict(SweepSpec, {"base": {**BASE, "lema": {}}, "axes": {"seed": [0]},
                                  "resources": {"backend": "ddp", "num_workers": 2, "cpus_per_trial": 2}})
    with pytest.raises(SpecError) as err:
        sweep.trials()
    assert err.value.field == "resources.num_workers" and "one process" in str(err.value)


def test_a_sweep_of_grid_and_length_lema_trials_has_plain_axes():
    """Optional groups set in some trials only (``lema``, ``lengths``) give hashable axis values."""
    from caseray.report.aggregate import axis_value, varying_axes
    from caseray.sweep.results import TrialRecord

    length = {**BASE, "split": {}, "lengths": {"train_digits": [1, 2], "test_digits": [1, 3]}}
    specs = [from_dict(TrialSpec, s) for s in (BASE, {**BASE, "lema": {}}, length, {**length, "lema": {}})]
    records = [TrialRecord(s, {}, None) for s in specs]
    axes = varying_axes(records)
    assert "lema" in axes and "lengths" not in axes and "lengths.train_digits" in axes
    values = {tuple(axis_value(r, a) for a in axes) for r in records}  # hashable: no dicts
    assert len(values) == 4

