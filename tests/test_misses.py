"""``caseray analyze misses``: the first wrong token of a reversed addition and the place responsible,
against answers and digits written out by hand."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseray.cli.main import main
from caseray.core.specs import from_dict
from caseray.data.formats import get_format
from caseray.data.formats.options import FormatOptions
from caseray.data.tasks import TaskSpec, build_task
from caseray.trial.cells import CUT
from caseray.trial.misses import Miss, first_miss, folder_misses, right_tokens
from caseray.trial.spec import TrialSpec

# (a, b, base, carries, written) -> the miss, written out by hand
CASES = [
    ((57, 68, 10, True, "51211"), None),  # 125 with its carries: right
    ((19, 11, 10, True, "012"), Miss("digit", 1, 1, 1, 1, "2", "3")),  # 1+1 with a carry in written 2
    ((105, 105, 10, True, "01112"), Miss("carry", 1, 0, 0, 1, "1", "0")),  # 0+0+1 carries nothing out
    ((999, 1, 10, True, "0101001"), Miss("carry", 2, 9, None, 1, "0", "1")),  # 9 + nothing + 1 carries 1
    ((999, 1, 10, True, "010"), Miss("stops early", 1, 9, None, 1, "", "1")),  # no carry out of place 1
    ((999, 1, 10, True, "01" + CUT), None),  # right as far as it was kept: not known
    ((999, 1, 10, True, "02" + CUT), Miss("carry", 0, 9, 1, 0, "2", "1")),
    ((5, 4, 10, True, "90"), Miss("runs on", 1, None, None, 0, "0", "")),
    ((57, 68, 10, False, "511"), Miss("digit", 1, 5, 6, 1, "1", "2")),  # no carries written
    ((5, 4, 9, True, "010"), Miss("digit", 1, None, None, 1, "0", "1")),  # 5+4 = 10 in base 9: "0", "11"
]


@pytest.mark.parametrize("problem, expected", CASES)
def test_first_miss_finds_the_token_and_the_place_responsible(problem, expected):
    a, b, base, carries, written = problem
    assert first_miss(a, b, base, written, carries) == expected


@given(st.integers(0, 10**30), st.integers(0, 10**30), st.sampled_from(["addition", "base9_addition"]),
       st.booleans())
def test_the_right_tokens_are_what_the_format_writes(a, b, task_name, carries):
    task = build_task(TaskSpec(task_name))
    fmt = get_format("direct", task, options=FormatOptions(reverse=True, carries=carries))
    assert "".join(ch for *_, ch in right_tokens(a, b, task.base, carries)) == fmt.target(task, a, b)
    assert first_miss(a, b, task.base, fmt.target(task, a, b), carries) is None


def test_relations_name_the_two_digits():
    assert Miss("digit", 1, 1, 1, 1, "2", "3").relation == "equal digits"
    assert Miss("digit", 1, 5, 6, 1, "1", "2").relation == "different digits"
    assert Miss("carry", 2, 9, None, 1, "0", "1").relation == "one operand has none"
    assert Miss("runs on", 1, None, None, 0, "0", "").relation == "past both operands"
    assert Miss("digit", 1, 1, 1, 1, "2", "3").shape == "1+1, carry in 1: digit 2 for 3"


def length_trial(tmp_path, rows, **spec):
    """A trial folder with a spec and hand-written test cells (no model: misses reads outputs only)."""
    data = {"format": "direct", "tokenizer": "digit", "format_options": {"reverse": True, "carries": True},
            "lengths": {"train_digits": [1, 3], "test_digits": [1, 4]}, **spec}
    folder = tmp_path / "trial"
    folder.mkdir()
    (folder / "spec.json").write_text(json.dumps(from_dict(TrialSpec, data).to_dict()))
    cols = ["a", "b", "n_digits", "output", "answer_correct"]
    table = pa.table({c: [r[i] for r in rows] for i, c in enumerate(cols)})
    pq.write_table(table.append_column("split", pa.array(["test"] * len(rows))), folder / "cells.parquet")
    return folder


ROWS = [("19", "11", 2, "012", False), ("105", "105", 3, "01112", False), ("57", "68", 2, None, True),
        ("999", "1", 3, "0101001", False), ("1234", "4321", 4, None, True)]


def test_a_folder_tallies_its_wrong_answers(tmp_path):
    found = folder_misses(length_trial(tmp_path, ROWS))
    assert found.rows == 5 and len(found.misses) == 3
    assert found.tally()["relations"] == {"equal digits": 2, "different digits": 0, "one operand has none": 1,
                                          "past both operands": 0}
    # chance: 19+11 (1 of 2 places equal), 105+105 (3 of 3), 999+1 (0 of 4)
    assert found.chance == pytest.approx((1 / 2 + 1 + 0) / 3)
    # (a's digit, b's digit, carry in) of every place of the five sums, worked out by hand: each miss's
    # column with how many places hold it
    assert set(found.tally()["columns"]) == {((1, 1, 1), 1, 1), ((0, 0, 1), 1, 1), ((9, None, 1), 1, 2)}
    assert found.columns[(None, None, 1)] == 2 and found.columns[(9, 1, 0)] == 2 and sum(found.columns.values()) == 16
    assert len(folder_misses(tmp_path / "trial", {2}).misses) == 1  # --digits: one length only


def test_cli_prints_the_table_and_refuses_what_it_cannot_read(tmp_path, capsys):
    folder = length_trial(tmp_path, ROWS)
    assert main(["analyze", "misses", str(folder), "--digits", "2,3"]) == 0
    out = capsys.readouterr().out
    assert "| trial | 0 | 4 | 3 | 2 | 0 | 1 | 0 |" in out and "all: 3 wrong, 2 at a place of equal digits" in out
    assert "first wrong at 1 of its" in out
    assert main(["analyze", "misses", str(folder), str(tmp_path / "none")]) == 2
    assert "folder: no cells in" in capsys.readouterr().err
    plain = tmp_path / "plain"
    (plain).mkdir()
    (plain / "spec.json").write_text(json.dumps(from_dict(TrialSpec, {"format": "direct"}).to_dict()))
    pq.write_table(pa.table({"a": ["1"]}), plain / "cells.parquet")
    assert main(["analyze", "misses", str(plain)]) == 2
    assert "is not a length trial of reversed direct addition" in capsys.readouterr().err


@pytest.mark.parametrize("case, words", [
    ("hints", "is not a length trial of reversed direct addition"),
    ("no_output", "has no output column"),
    ("bad_retest", "is not JSON"),
    ("retest_without_folder", "retest.json names no trial folder"),
    ("bad_cells", "cells.parquet cannot be read"),
])
def test_what_misses_cannot_read_exits_2_naming_the_folder(tmp_path, capsys, case, words):
    spec = {"format_options": {"reverse": True, "index_hints": True}} if case == "hints" else {}
    folder = length_trial(tmp_path, ROWS, **spec)
    if case == "no_output":
        pq.write_table(pq.read_table(folder / "cells.parquet").drop_columns(["output"]), folder / "cells.parquet")
    if case == "bad_cells":
        (folder / "cells.parquet").write_bytes(b"not parquet")
    if case in ("bad_retest", "retest_without_folder"):
        (folder / "retest.json").write_text("{" if case == "bad_retest" else '{"trial": "x"}')
    assert main(["analyze", "misses", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "folder: " in err and words in err and "Traceback" not in err
