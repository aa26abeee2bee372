"""The claims' verdicts, judged from synthetic trials with known outcomes (the real run is
`caseray reproduce --quick`, measured in the issue's closing note)."""

import numpy as np
import pytest

from caseray.core.specs import from_dict
from caseray.data.splits import SplitSpec
from caseray.data.tasks import TaskSpec, build_task
from caseray.report.reproduce import design, judge, plan, summary, table
from caseray.report.step_coverage import predict
from caseray.sweep.spec import SweepSpec, grid_trials
from synthetic import record

TASKS = ["addition", "base9_addition", "mod_addition", "linear", "chicken_rabbit"]


def _by_coverage(a, b, split):  # a model that fails exactly the cells with an unseen step
    task = build_task(TaskSpec("addition", high=49))
    return 1.0 - predict(task, "scratchpad", a, b, split)["uncovered"]


def runs(linear_hole=True, fitted=True, growing=True):
    def rec(**kw):
        r = record(**kw)
        if not fitted:
            r.metrics["train_acc"] = 0.5
        return r

    return {
        "tasks": [rec(task=t, seed=s, hole=2 if (t != "linear" or linear_hole) else -1)
                  for t in TASKS for s in (0, 1, 2)],
        "random": [rec(split=SplitSpec(kind="random", test_size=49, seed=42), seed=s) for s in (0, 1, 2)],
        "size": [rec(split=SplitSpec(center=(10, 10), half_width=h), seed=s, hole=(h - 1 if growing else 0))
                 for h in (2, 3, 4) for s in (0, 1, 2)],
        "digits": [rec(tokenizer="digit", seed=s, hole=-1) for s in (0, 1, 2)],
        "scratchpad": [rec(fmt="scratchpad", split=SplitSpec(center=(25, 25), half_width=7), seed=s, high=49,
                           accuracy=_by_coverage) for s in (0, 1, 2)],  # tens pair (2, 2) only in the square
    }


def test_every_claim_reproduces_on_trials_that_show_it():
    verdicts = judge(runs())
    assert len(verdicts) == 9 and all(v.reproduced for v in verdicts), table(verdicts)
    assert "9 of 9 claims reproduced" in summary(verdicts)
    (cov,) = [v for v in verdicts if v.claim.startswith("scratchpad")]
    assert "precision 1.00 ± 0.00, recall 1.00 ± 0.00" in cov.measured


def test_what_does_not_reproduce_is_said_plainly():
    verdicts = judge(runs(linear_hole=False, growing=False))
    failed = [v.claim for v in verdicts if v.reproduced is False]
    assert failed == ["Leave-Square-Out leaves a hole: linear (direct, number tokens)",
                      "the hole grows with the square's half-width h (addition)"]
    assert "Not reproduced: Leave-Square-Out leaves a hole: linear" in summary(verdicts)


def test_an_unfitted_model_is_not_measurable_and_missing_grids_are_named():
    verdicts = judge(runs(fitted=False))
    assert [v.reproduced for v in verdicts if "hole" in v.claim] == [None] * 7
    assert all("0 of" in v.note and "trials fit their training cells" in v.note
               for v in verdicts if v.reproduced is None)
    partial = {**runs(), "scratchpad": []}
    (v,) = [v for v in judge(partial) if v.claim == "step coverage"]
    assert v.reproduced is None and "grid(s) scratchpad" in v.note


def test_claims_are_judged_on_the_seeds_that_fit():
    r = runs()
    linear = [x for x in r["tasks"] if x.spec.task.name == "linear"]
    linear[0].metrics["train_acc"], linear[0].metrics["inner_acc"] = 0.5, 1.0  # unfitted, no hole: left out
    (v,) = [v for v in judge(r) if "linear" in v.claim]
    assert v.reproduced is True and v.note.startswith("2 of 3 trials fit their training cells (train 0.50, 1.00")
    linear[1].metrics["train_acc"] = 0.5
    (v,) = [v for v in judge(r) if "linear" in v.claim]
    assert v.reproduced is None and v.note.startswith("1 of 3 trials fit")


@pytest.mark.parametrize("mode", ["quick", "full"])
def test_the_plans_are_valid_sweeps_with_three_seeds(mode):
    sweep = from_dict(SweepSpec, plan(mode))
    specs = sweep.trials()
    grids: dict = {}
    for i, (group, _) in enumerate(design(mode)):
        grids.setdefault(group, []).extend(grid_trials(sweep, i))
    assert len(grids["tasks"]) == 15 and {s.task.name for s in grids["tasks"]} == set(TASKS)
    mod = [s for s in grids["tasks"] if s.task.name == "mod_addition"]
    assert all(s.train.weight_decay > 0 and s.train.steps > specs[0].train.steps for s in mod)
    assert all(sorted({s.seed for s in g}) == [0, 1, 2] for g in grids.values())
    assert len(specs) == sum(len(g) for g in grids.values())
    assert np.all([s.format == "scratchpad" for s in grids["scratchpad"]])


@pytest.mark.slow
def test_reproduce_runs_its_sweep_and_rereads_it_from_mlflow(ray_local, tmp_path, monkeypatch, capsys):
    """A miniature mode (0-19 grids, 20 steps, one seed): the sweep runs on Ray, every claim gets a
    verdict, and the models -- far from fitted -- make every hole claim "not measurable"."""
    from caseray.cli.main import main
    from caseray.report import reproduce
    from caseray.sweep.tracking import Tracker

    monkeypatch.setitem(reproduce.MODES, "quick", reproduce.Mode(19, 3, (2,), 20, "tiny", 3e-3, {}))
    monkeypatch.setattr(reproduce, "SEEDS", [0])
    monkeypatch.setattr(reproduce, "MIN_FITTED", 1)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    verdicts, path = reproduce.run_reproduce("quick", str(tmp_path / "sweeps"), uri)
    assert len(verdicts) == 9 and path.exists() and (path.parent / "report.md").exists()
    assert [v.reproduced for v in verdicts if "hole" in v.claim] == [None] * 7
    assert all(v.note.startswith("0 of") and "trials fit their training cells" in v.note
               for v in verdicts if v.reproduced is None)
    tracker = Tracker(uri)
    (sweep_id,) = tracker.sweep_ids()
    logged = {a.path for a in tracker.client.list_artifacts(tracker.parent_of(sweep_id), "report")}
    assert {"report/reproduce.md", "report/report.md", "report/holemaps.png"} <= logged
    # --no-run with an empty results folder: the same verdicts, read back from MLflow
    assert main(["reproduce", "--no-run", "--storage", str(tmp_path / "elsewhere"), "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert out.count("not measurable") == sum(v.reproduced is None for v in verdicts)
    assert reproduce.summary(verdicts).splitlines()[0] in out
