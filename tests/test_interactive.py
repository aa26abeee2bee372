"""The interactive pages without a browser: what a hover is told about a cell, report.html's plotly
figures (the JavaScript once, nothing fetched, the planted outputs at their cells), and ``caseray
report SWEEP_A SWEEP_B`` (side by side; bad input refused with exit 2 before any write)."""

import base64
import json
import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from caseray.data.splits import SplitSpec
from caseray.report.build import build_report
from caseray.report.side_by_side import compare_sweeps
from caseray.sweep.results import write_manifest
from caseray.trial.interactive import HOVER_CHARS, NOT_RECORDED, RIGHT, hover_fields, said_shown, shown
from synthetic import record


def with_outputs(r, wrong_by=1):
    """``r`` with what a model said planted: every wrong cell answered a + b + ``wrong_by``, its first
    wrong step 0."""
    cells = r.cells
    wrong = cells["accuracy"].to_numpy() < 1
    a, b = cells["a"].to_numpy(), cells["b"].to_numpy()
    output = [str(x + y + wrong_by) if w else None for x, y, w in zip(a.tolist(), b.tolist(), wrong)]
    cells = cells.append_column("output", pa.array(output, pa.string()))
    cells = cells.append_column("first_wrong_step", pa.array(np.where(wrong, 0, -1).astype(np.int32)))
    return type(r)(r.spec, r.metrics, cells)


def sweep_records(hole=1, fmt="direct", tokenizers=("number", "digit"), wrong_by=1, steps=None):
    """Tokenizers x seeds 0, 1 (``steps``: trained that long, so another sweep's trials)."""
    records = [with_outputs(record(tokenizer=t, fmt=fmt, seed=s, hole=hole if t == "number" else -1), wrong_by)
               for t in tokenizers for s in (0, 1)]
    if steps is None:
        return records
    return [replace(r, spec=replace(r.spec, train=replace(r.spec.train, steps=steps))) for r in records]


def length_record(seed: int):
    """A length trial trained on 1-3 digits, tested on 1-6: right up to 4 digits, wrong beyond."""
    from caseray.core.specs import from_dict
    from caseray.sweep.results import TrialRecord
    from caseray.trial.spec import TrialSpec

    n = np.repeat(np.arange(1, 7), 10)
    split = np.where((n <= 3) & (np.arange(len(n)) % 2 == 0), "train", "test")
    cells = pa.table({"a": np.arange(len(n)), "b": np.zeros(len(n), dtype=int), "n_digits": n, "split": split,
                      "accuracy": (n <= 4).astype(float)})
    spec = from_dict(TrialSpec, {"tokenizer": "digit", "seed": seed,
                                 "lengths": {"train_digits": [1, 3], "test_digits": [1, 6]}})
    return TrialRecord(spec, {"reach": 4, "id_acc": 1.0, "ood_acc": 0.5}, cells)


def write_sweep(storage, sweep_id: str, records) -> None:
    """Records as a sweep leaves them: trial folders and the manifest."""
    for r in records:
        out = storage / "trials" / r.name
        out.mkdir(parents=True, exist_ok=True)
        (out / "spec.json").write_text(json.dumps(r.spec.to_dict()))
        (out / "metrics.json").write_text(json.dumps(r.metrics))
        pq.write_table(r.cells, out / "cells.parquet")
    write_manifest(storage, sweep_id, {"name": sweep_id.rsplit("-", 1)[0]}, [r.name for r in records])


def figures(page: str) -> dict[str, dict]:
    """Every plotly figure a page draws, by its div id: {"data": traces, "layout": layout}."""
    out = {}
    for match in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', page):
        decoder = json.JSONDecoder()
        data, end = decoder.raw_decode(page, match.end())
        layout, _ = decoder.raw_decode(page, page.index("{", end))
        out[match.group(1)] = {"data": data, "layout": layout}
    return out


def plain(values) -> list:
    """An array as plotly writes it into a page (numbers as base64 typed arrays) as a list."""
    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return values


def cell_of(trace: dict, a: int, b: int):
    """A heat map trace's customdata at cell (a, b) (rows a from y[0], columns b from x[0])."""
    return trace["customdata"][a - plain(trace["y"])[0]][b - plain(trace["x"])[0]]


def test_a_hover_tells_the_prompt_target_and_what_the_model_said():
    r = with_outputs(record(tokenizer="number", hole=1))
    fields = hover_fields(r.spec, r.cells)
    at = {(a, b): f for a, b, f in zip(r.cells["a"].to_pylist(), r.cells["b"].to_pylist(), fields)}
    # the centre of the square at (10, 10) is a hole, its neighbour two rings out is right
    assert at[(10, 10)] == ["10+10=", "20", "21", 0, "ring 0", 4, "test"]
    assert at[(10, 12)][:4] == ["10+12=", "22", RIGHT, "-"] and at[(10, 12)][6] == "test"
    assert at[(0, 0)] == ["0+0=", "0", RIGHT, "-", "ring 10", 0, "train"]


def test_a_region_cell_hovers_its_depth_in_the_region_not_a_ring():
    """The band |a - b| <= 1 held out on 0-19: (10, 10) lies 1 cell inside it (its depth, as the region
    module defines it), a training cell outside it."""
    from caseray.core.specs import from_dict
    from caseray.data.splits import SplitSpec

    split = from_dict(SplitSpec, {"kind": "region", "hold": [{"band": {"offset": 0, "width": 1}}]})
    r = record(tokenizer="number", split=split)
    at = dict(zip(zip(r.cells["a"].to_pylist(), r.cells["b"].to_pylist()), hover_fields(r.spec, r.cells)))
    assert at[(10, 10)][4] == "depth 1 in the region" and at[(10, 10)][6] == "test"
    assert at[(0, 5)][4] == "outside the region" and at[(0, 5)][6] == "train"


def test_cells_from_before_outputs_were_kept_read_as_not_recorded():
    r = record(tokenizer="number", hole=1)  # no output or first_wrong_step column
    fields = dict(zip(zip(r.cells["a"].to_pylist(), r.cells["b"].to_pylist()), hover_fields(r.spec, r.cells)))
    assert fields[(10, 10)][2:4] == [NOT_RECORDED, "-"] and fields[(0, 0)][2] == RIGHT


def test_a_solution_of_several_lines_shows_its_answer_and_first_wrong_line():
    target, output = "37+45,,C:0\n3+4,2,C:1\n+,82,C:0\n82", "37+45,,C:0\n3+4,3,C:1\n+,83,C:0\n83"
    assert said_shown(target, output, 1) == ("82 (4 lines)", "83 (4 lines)<br>  line 1: 3+4,3,C:1 (target: 3+4,2,C:1)")
    assert said_shown(target, None, -1) == ("82 (4 lines)", RIGHT)
    assert said_shown("12", "", 0) == ("12", "(nothing)")
    # plotly reads tags in labels: what the model wrote is shown as text, cut to HOVER_CHARS
    assert shown("a<b>c</b> & d") == "a&lt;b&gt;c&lt;/b&gt; &amp; d"
    assert shown("9" * 1000) == "9" * HOVER_CHARS + "…"


def test_report_html_draws_every_hole_map_with_plotly_once_and_fetches_nothing(tmp_path):
    records = sweep_records()
    build_report("inter-0001", records, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert page.count("plotly.js v") == 1  # the library's banner: inlined once
    assert re.findall(r"<script[^>]*\bsrc\s*=", page) == []  # no script fetched, from http or anywhere
    assert re.findall(r'<img src="(?!data:image/png;base64,)', page) == []  # every picture inside the page
    assert "holemaps.png" in (tmp_path / "report.md").read_text()  # report.md keeps the PNG
    drawn = figures(page)
    assert set(drawn) == {"holemaps", "holemaps-trials"}
    # the grid's panel of number tokens averages seeds 0 and 1: both wrong at the centre, each output told
    panels = [t for t in drawn["holemaps"]["data"] if t["type"] == "heatmap"]
    assert len(panels) == 2  # digit, number
    number = next(t for t in panels if "mean of 2" in t["hovertemplate"] and cell_of(t, 10, 10)[2] != RIGHT)
    assert cell_of(number, 10, 10)[:3] == ["10+10=", "20", "seed 0: 21<br>seed 1: 21"]
    # each trial's own map: one per trial, its wrong cells' outputs from its cells.parquet
    trials = [t for t in drawn["holemaps-trials"]["data"] if t["type"] == "heatmap"]
    assert len(trials) == len(records) == 4
    said = {(cell_of(t, 10, 11)[2]) for t in trials}
    assert said == {"22", RIGHT}  # number tokens' hole (ring 1) said 10 + 11 + 1; digits were right
    squares = [s for s in drawn["holemaps-trials"]["layout"]["shapes"] if s["type"] == "rect"]
    assert len(squares) == 4 and {(s["x0"], s["x1"], s["y0"], s["y1"]) for s in squares} == {(6.5, 13.5, 6.5, 13.5)}


def test_a_page_draws_at_most_max_cells_with_hovers(tmp_path, monkeypatch):
    """Past ``MAX_CELLS`` the trials' own maps are left out, then the grid too (its PNG stays, inlined)."""
    from caseray.report import interactive

    records = sweep_records()  # 2 panels and 4 trials of 400 cells
    monkeypatch.setattr(interactive, "MAX_CELLS", 1000)
    build_report("inter-0002", records, tmp_path / "grid only")
    page = (tmp_path / "grid only" / "report.html").read_text()
    assert set(figures(page)) == {"holemaps"} and "Each trial's own map is left out here (1,600 cells" in page
    monkeypatch.setattr(interactive, "MAX_CELLS", 799)
    build_report("inter-0002", records, tmp_path / "static")
    page = (tmp_path / "static" / "report.html").read_text()
    assert figures(page) == {} and "plotly.js v" not in page
    assert re.search(r'<img src="data:image/png;base64,[^"]+" alt="Hole maps">', page)


def test_a_length_sweep_gets_interactive_length_curves(tmp_path):
    records = [length_record(seed=s) for s in (0, 1)]
    build_report("len-0001", records, tmp_path)
    page = (tmp_path / "report.html").read_text()
    drawn = figures(page)
    assert "length" in drawn and page.count("plotly.js v") == 1
    line = drawn["length"]["data"][0]
    assert line["type"] == "scatter" and "digits" in line["hovertemplate"]
    shaded = drawn["length"]["layout"]["shapes"]
    assert {(s["x0"], s["x1"]) for s in shaded} == {(0.5, 3.5)}  # trained on 1-3 digits
    exact = next(t for t in drawn["length"]["data"] if t["xaxis"] == "x")
    assert plain(exact["x"]) == [1, 2, 3, 4, 5, 6] and plain(exact["y"]) == [1, 1, 1, 1, 0, 0]


def test_two_sweeps_side_by_side_share_one_colour_scale(tmp_path):
    storage = tmp_path / "sweeps"
    write_sweep(storage, "first-00000001", sweep_records(hole=1))
    write_sweep(storage, "second-00000002", sweep_records(hole=2, wrong_by=5, steps=2000))
    path = compare_sweeps("first", "second", storage)
    assert path == storage / "first-00000001" / "report" / "side_by_side-second-00000002.html"
    page = path.read_text()
    assert page.count("plotly.js v") == 1 and re.findall(r"<script[^>]*\bsrc\s*=", page) == []
    drawn = figures(page)["side-by-side"]
    maps = [t for t in drawn["data"] if t["type"] == "heatmap"]
    assert len(maps) == 4  # digit and number tokens, each first | second
    assert {t["coloraxis"] for t in maps} == {"coloraxis"}
    assert (drawn["layout"]["coloraxis"]["cmin"], drawn["layout"]["coloraxis"]["cmax"]) == (0, 1)
    titles = [a["text"] for a in drawn["layout"]["annotations"]]
    assert [t.split(":")[0] for t in titles] == ["first-00000001", "second-00000002"] * 2
    # the same cell in a row: the first sweep's models said 21, the second's 25 (ring 2 is a hole there only)
    number_row = [t for t in maps if cell_of(t, 10, 10)[2] != RIGHT]
    assert [cell_of(t, 10, 10)[2] for t in number_row] == ["seed 0: 21<br>seed 1: 21", "seed 0: 25<br>seed 1: 25"]
    assert [cell_of(t, 10, 12)[2] for t in number_row] == [RIGHT, "seed 0: 27<br>seed 1: 27"]


def run_cli(*argv, cwd):
    return subprocess.run([sys.executable, "-m", "caseray.cli", "report", *argv], capture_output=True, text=True,
                          cwd=cwd)


def snapshot(folder) -> set:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("argv,words", [
    (["nosuch", "second"], "sweep: sweep 'nosuch' is not in"),
    (["first", "nosuch"], "sweep_b: sweep 'nosuch' is not in"),
    (["first", "lengths"], "sweep_b: sweep lengths-00000004 has no grid trials"),
    (["first", "formats"], "sweep_b: sweeps first-00000001 and formats-00000003 have no hole maps to match"),
    (["first", "second", "--rows", "tokenizer"], "rows: lays out one sweep's report"),
])
def test_side_by_side_refuses_bad_input_with_exit_2_before_any_write(argv, words, tmp_path):
    storage = tmp_path / "sweeps"
    write_sweep(storage, "first-00000001", sweep_records())
    write_sweep(storage, "second-00000002", sweep_records(hole=2, steps=2000))
    write_sweep(storage, "formats-00000003", sweep_records(fmt="scratchpad", tokenizers=("digit",)) +
                sweep_records(fmt="rule_following", tokenizers=("digit",)))
    write_sweep(storage, "lengths-00000004", [length_record(seed=0)])
    before = snapshot(tmp_path)
    proc = run_cli(*argv, "--storage", str(storage), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("caseray: error: ") and words in proc.stderr and "Traceback" not in proc.stderr
    assert "(allowed: " in proc.stderr
    assert snapshot(tmp_path) == before  # nothing written


def test_side_by_side_from_the_command_line(tmp_path):
    storage = tmp_path / "sweeps"
    write_sweep(storage, "first-00000001", sweep_records())
    write_sweep(storage, "second-00000002", sweep_records(hole=2, steps=2000))
    proc = run_cli("first", "second", "--storage", str(storage), "--out", str(tmp_path / "both"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "both" / "side_by_side-second-00000002.html"
    assert proc.stdout.strip() == f"side by side: {path}" and len(figures(path.read_text())) == 1


def test_the_square_of_a_synthetic_record_is_where_the_hovers_say():
    """(the helper's geometry the tests above rely on: square h = 3 at (10, 10))"""
    r = record(split=SplitSpec(center=(10, 10), half_width=3))
    ring = dict(zip(zip(r.cells["a"].to_pylist(), r.cells["b"].to_pylist()), r.cells["ring"].to_pylist()))
    assert ring[(10, 10)] == 0 and ring[(10, 12)] == 2 and ring[(7, 13)] == 3
