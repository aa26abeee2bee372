"""Figures, tables and curves computed from synthetic per-cell results with known patterns."""

import numpy as np
import pytest

from caseray.data.splits import SplitSpec
from caseray.report import aggregate
from caseray.report.build import build_report
from caseray.report.figures import draw_panel, plan_panels
from synthetic import record

H2, H3 = SplitSpec(center=(10, 10), half_width=2), SplitSpec(center=(8, 11), half_width=3)


@pytest.fixture(scope="module")
def sweep():
    """tokenizer x split x 3 seeds: number tokens leave a hole of ring <= 1 (seed 2: ring <= 0), digits none."""
    return [record(tokenizer=t, split=sp, seed=s, hole=(-1 if t == "digit" else (0 if s == 2 else 1)))
            for t in ("number", "digit") for sp in (H2, H3) for s in (0, 1, 2)]


def test_axes_groups_and_labels(sweep):
    assert aggregate.varying_axes(sweep) == ["split", "tokenizer"]
    groups = aggregate.group(sweep, ["tokenizer"])
    assert list(groups) == [("digit",), ("number",)] and all(len(v) == 6 for v in groups.values())
    assert aggregate.axis_value(sweep[0], "split") == "square h=2 at (10, 10)"
    assert aggregate.axis_value(sweep[0], "h") == 2


def test_summary_rows_are_means_and_spreads_over_seeds(sweep):
    rows = {(r["split"], r["tokenizer"]): r for r in aggregate.summary_rows(sweep, ["split", "tokenizer"])}
    number = rows[("square h=2 at (10, 10)", "number")]
    # h = 2: 25 test cells; ring <= 1 is 9 of them (seeds 0, 1), ring 0 is 1 (seed 2)
    assert number["trials"] == 3 and number["seeds"] == "0 1 2"
    assert number["square_acc"] == pytest.approx(np.mean([16 / 25, 16 / 25, 24 / 25]))
    assert number["square_acc std"] == pytest.approx(np.std([16 / 25, 16 / 25, 24 / 25], ddof=1))
    assert number["centre_acc"] == 0 and number["train_acc"] == 1
    assert rows[("square h=3 at (8, 11)", "digit")]["square_acc"] == 1
    assert "coverage/precision" not in number  # direct answers have no steps: no such column
    table = aggregate.markdown_table(aggregate.summary_rows(sweep, ["tokenizer"]))
    six = [16 / 25, 16 / 25, 24 / 25, 40 / 49, 40 / 49, 48 / 49]  # number tokens: h = 2 and h = 3, 3 seeds
    assert "| digit | 6 |" in table and f"| {np.mean(six):.3f} ± {np.std(six, ddof=1):.3f} |" in table


def test_panels_hold_the_right_means_and_squares_where_they_are(sweep):
    plan = plan_panels(sweep, ["tokenizer"], ["split"])
    assert [[p.title for p in line] for line in plan] == [
        ["digit | square h=2 at (10, 10)", "digit | square h=3 at (8, 11)"],
        ["number | square h=2 at (10, 10)", "number | square h=3 at (8, 11)"]]
    panel = plan[1][1]  # number tokens, square (8, 11) h = 3
    assert panel.squares == ((8, 11, 3),) and panel.n_trials == 3
    at = {(a, b): v for a, b, v in zip(panel.a, panel.b, panel.accuracy)}
    assert at[(8, 11)] == 0 and at[(9, 12)] == pytest.approx(1 / 3) and at[(10, 13)] == 1 and at[(0, 0)] == 1
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    image = draw_panel(ax, panel)
    (square,) = ax.patches
    assert square.get_xy() == (11 - 3 - 0.5, 8 - 3 - 0.5) and square.get_width() == 7
    assert image.get_array()[8, 11] == 0 and image.get_array()[9, 12] == pytest.approx(1 / 3)  # rows a, cols b
    plt.close(fig)


def test_ring_and_distance_curves(sweep):
    number = [r for r in sweep if r.spec.tokenizer == "number" and r.spec.split == H3]
    x, mean, std, n = aggregate.curve(number, "ring")
    assert list(x) == [0, 1, 2, 3] and list(n) == [3, 3, 3, 3]
    assert mean == pytest.approx([0, 1 / 3, 1, 1]) and std[1] == pytest.approx(np.std([0, 0, 1], ddof=1))
    x, mean, _, _ = aggregate.curve(number, "dist")
    assert list(x) == [1, 2, 3, 4] and mean[0] == 1 and mean[-1] == 0  # the centre is 4 cells from training


def test_length_profile_and_training_range():
    def acc(a, b, split):  # right on 1-digit cells only
        return (np.maximum(a, b) < 10).astype(float)

    r = record(split=SplitSpec(kind="random", test_size=100, seed=1), accuracy=acc)
    assert aggregate.profile(r, "digits") == {1: 1.0, 2: 0.0}
    assert aggregate.train_digits(r) == (1, 2)


def test_report_writes_tables_figures_and_html(sweep, tmp_path):
    extra = [record(tokenizer="number", split=SplitSpec(center=(10, 10), half_width=4), seed=s, hole=2)
             for s in (0, 1, 2)]
    path = build_report("synthetic-0123", sweep + extra, tmp_path, per_seed=False)
    text = path.read_text()
    for part in ("# Sweep synthetic-0123", "holemaps.png", "signature.png", "square_size.png", "| number |"):
        assert part in text
    for name in ("holemaps.png", "signature.png", "square_size.png", "summary.csv", "report.html"):
        assert (tmp_path / name).stat().st_size > 0
    assert "<table>" in (tmp_path / "report.html").read_text()
    header = (tmp_path / "summary.csv").read_text().splitlines()[0]
    assert header.startswith("split,tokenizer,trials,seeds,train_acc,train_acc std")


def _length_record(fmt, seed, keep):
    """Length data: 20 problems per digit count 1-8, trained on 1-4; right up to ``keep`` digits."""
    import pyarrow as pa

    from caseray.sweep.results import TrialRecord
    from synthetic import record

    n = np.repeat(np.arange(1, 9), 20)
    split = np.where(n <= 4, "train", "test")
    split[::5] = "test"  # some short test problems too
    cells = pa.table({"a": [str(i) for i in range(len(n))], "b": ["0"] * len(n), "n_digits": n, "split": split,
                      "accuracy": (n <= keep).astype(float)})
    return TrialRecord(record(fmt=fmt, seed=seed).spec, {}, cells)


def test_length_curves_per_format_with_the_training_range(tmp_path):
    from caseray.report.figures import length_curves

    recs = [_length_record("rule_following", s, keep=6 + s) for s in (0, 1, 2)] + \
           [_length_record("scratchpad", s, keep=4) for s in (0, 1, 2)]
    x, mean, std, n = aggregate.curve(recs[:3], "digits")
    assert list(x) == list(range(1, 9)) and list(n) == [3] * 8
    assert mean == pytest.approx([1, 1, 1, 1, 1, 1, 2 / 3, 1 / 3])
    assert aggregate.train_digits(recs[0]) == (1, 4)
    assert length_curves(recs, ["format"], tmp_path / "length.png").stat().st_size > 0
    assert length_curves([record()], ["format"], tmp_path / "none.png") is None  # nothing beyond training


def test_task_groups_are_one_axis_and_sparse_designs_wrap():
    from caseray.report.figures import sparse, wrapped

    mixed = [record(task="addition", seed=s) for s in (0, 1)] + [record(task="linear"), record(task="base9_addition"),
                                                                  record(task="addition", tokenizer="digit")]
    assert aggregate.varying_axes(mixed) == ["task", "tokenizer"]
    assert aggregate.axis_value(mixed[2], "task") == "linear 0-19"
    plan = plan_panels(mixed, ["task"], ["tokenizer"])
    assert [[p and p.title for p in line] for line in plan] == [
        ["addition 0-19 | digit", "addition 0-19 | number"], [None, "base9_addition 0-19 | number"],
        [None, "linear 0-19 | number"]]
    assert plan[0][1].n_trials == 2
    assert sparse(plan) and [[p and p.title for p in line] for line in wrapped(plan, 3)] == [
        ["addition 0-19 | digit", "addition 0-19 | number", "base9_addition 0-19 | number"],
        ["linear 0-19 | number", None, None]]


def test_the_length_figure_draws_step_panels_only_for_answers_of_several_steps():
    """A direct answer is one step: its step curves would repeat exact match (and its first wrong step
    is always step 0), so its figure has one panel; a trace's has all three."""
    import pyarrow as pa

    from caseray.report.figures import length_panels
    from caseray.sweep.results import TrialRecord

    def with_steps(rec, steps):
        n = rec.cells.num_rows
        first = np.where(rec.cells["accuracy"].to_numpy() > 0, -1, 0)
        return TrialRecord(rec.spec, {}, rec.cells.append_column("n_steps", pa.array([steps] * n))
                           .append_column("step_acc", rec.cells["accuracy"]).append_column("first_wrong_step",
                                                                                           pa.array(first)))

    direct = [with_steps(_length_record("direct", s, keep=5), 1) for s in (0, 1)]
    traced = [with_steps(_length_record("rule_following", s, keep=5), 4) for s in (0, 1)]
    assert [v for v, _ in length_panels(direct)] == ["accuracy"]
    assert [v for v, _ in length_panels(direct + traced)] == ["accuracy", "step_acc", "first_wrong"]
    assert [v for v, _ in length_panels([_length_record("direct", 0, keep=5)])] == ["accuracy"]  # no step columns


def test_a_mixed_sweep_draws_only_its_traces_in_the_step_panels(tmp_path, monkeypatch):
    import pyarrow as pa

    from caseray.report import figures
    from caseray.sweep.results import TrialRecord

    def with_steps(rec, steps):
        n = rec.cells.num_rows
        return TrialRecord(rec.spec, {}, rec.cells.append_column("n_steps", pa.array([steps] * n))
                           .append_column("step_acc", rec.cells["accuracy"])
                           .append_column("first_wrong_step", pa.array([0] * n)))

    drawn = {}
    real = figures._curves
    monkeypatch.setattr(figures, "_curves", lambda ax, records, by, kind, colours, legend, value="accuracy": (
        drawn.setdefault(value, sorted({r.spec.format for r in records})),
        real(ax, records, by, kind, colours, legend, value))[1])
    recs = [with_steps(_length_record("direct", 0, keep=5), 1), with_steps(_length_record("rule_following", 0, 5), 4)]
    assert figures.length_curves(recs, ["format"], tmp_path / "length.png").stat().st_size > 0
    assert drawn == {"accuracy": ["direct", "rule_following"], "step_acc": ["rule_following"],
                     "first_wrong": ["rule_following"]}
