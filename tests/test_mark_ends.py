"""``model.mark_ends``: the prompt's operator on the place of the longest operand's top digit, bos on
the place past it (``caseray.data.places.EndsMarked``). Expected places are written by hand."""

import subprocess
import sys

import pytest
import torch

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.places import PLACE_RULES, READERS, Pairs
from caseray.trial.spec import TrialSpec

BASE = {"format": "direct", "tokenizer": "digit", "format_options": {"reverse": True, "carries": True},
        "model": {"scale": "llama-tiny", "positions": "coupled_random", "coupled_ids": 256},
        "lengths": {"train_digits": [1, 3], "test_digits": [1, 8]}}


def test_the_operator_takes_the_longest_operands_top_place_and_nothing_else_moves():
    marked, plain = PLACE_RULES["carries+ends"], PLACE_RULES["carries"]
    assert marked.prompt("999+1=") == [3, 2, 1, 3, 1, 1]  # "+" on place 3, 999's top digit
    assert marked.prompt("1+999=") == [1, 3, 3, 2, 1, 1]  # the longer operand may come second
    assert marked.prompt("7+8=") == [1, 1, 1, 1]
    assert PLACE_RULES["answer+ends"].prompt("59+13=") == [2, 1, 2, 2, 1, 0]  # the plain rule's "=" stays 0
    for prompt, target in (("999+1=", "0101011"), ("59+13=", "217")):
        assert marked.target(target) == plain.target(target) and marked.span(prompt) == plain.span(prompt)
    assert READERS["carries+ends"] is Pairs and marked.levels == 1
    assert [marked.bos_place(p) for p in ("999+1=", "1+999=", "7+8=", "12345+6=")] == [4, 4, 2, 6]
    assert plain.bos_place("999+1=") == 0 and PLACE_RULES["columns"].bos_place("999+1=") == 0


def spec(**model):
    return from_dict(TrialSpec, {**BASE, "model": {**BASE["model"], **model}})


def test_the_scheme_uses_the_marked_rule_and_only_a_set_field_renames_a_trial():
    assert spec(mark_ends=True).positions().rule == "carries+ends"
    assert spec().positions().rule == spec(mark_ends=False).positions().rule == "carries"
    assert spec().name == spec(mark_ends=False).name != spec(mark_ends=True).name
    from caseray.report.lengths import configuration  # the report keeps the two apart

    assert configuration(spec(mark_ends=True)) == configuration(spec()) + ", ends marked"
    assert configuration(spec(coupled_ids=64)) + ", 256 ids" == configuration(spec())  # (an id range too)
    marked = spec(mark_ends=True, attention="id_alibi")  # MLflow's run names tell the arms apart too
    assert marked.label.replace("·id_alibi·ends", "") == spec().label


def test_marked_ids_in_training_rows_and_at_decoding_agree_and_put_the_ends_where_written():
    import pyarrow as pa

    from caseray.train.batches import row_places
    from caseray.train.evaluate import _prompt_positions

    scheme = spec(mark_ends=True).positions()
    table = pa.table({"prompt": ["999+1=", "1+999="], "target": ["0101011", "0101011"]})
    pos, spans = _prompt_positions(table, range(2), 7, scheme)
    assert spans.tolist() == [4, 4]
    trained, _ = row_places(table, 15, scheme.rule)
    assert trained[0, :7].tolist() == [4, 3, 2, 1, 3, 1, 1]  # bos on place 4, "+" on 999's hundreds
    assert trained[1, :7].tolist() == [4, 1, 3, 3, 2, 1, 1]
    assert torch.equal(pos, scheme.place_id(trained[:, :7], spans[:, None]))  # decoding: the rows' ids
    row = pos[0].tolist()
    assert row[4] == row[1] and row[5] == row[3] == row[6] and row[0] == max(row) > row[1]


@pytest.mark.parametrize("bad, field", [({"positions": "rope", "coupled_ids": 64}, "model.mark_ends"),
                                        ({"mark_ends": "yes"}, "model.mark_ends")])
def test_nonsense_is_refused_naming_the_field(bad, field):
    model = {**BASE["model"], "mark_ends": True, **bad}
    with pytest.raises(SpecError, match=f"^{field}"):
        from_dict(TrialSpec, {**BASE, "model": model, "format_options": {"reverse": True}})


def test_a_column_trace_is_refused_and_the_cli_writes_nothing(tmp_path):
    with pytest.raises(SpecError, match=r"^model.mark_ends: marks the operator of a prompt of two numbers"):
        from_dict(TrialSpec, {"format": "rule_following_columns", "tokenizer": "digit",
                              "model": {"scale": "llama-tiny", "positions": "coupled_random", "mark_ends": True}})
    run = subprocess.run([sys.executable, "-m", "caseray", "trial", "--set", "format=direct",
                          "--set", "tokenizer=digit", "--set", "model.mark_ends=true",
                          "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 2 and "model.mark_ends" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()
