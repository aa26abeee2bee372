"""``format_options.carries``: a reversed direct answer with the carry into each place before its digit
(the units have none), each on its place's coupled id. Expected values come from plain integer
arithmetic, not from the format."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.formats import get_format
from caseray.data.formats.options import FormatOptions
from caseray.data.places import PLACE_RULES, Pairs, digit_places
from caseray.data.tasks import TaskSpec, build_task
from caseray.data.tokenizers import build_tokenizer
from caseray.trial.spec import TrialSpec

CARRIES = FormatOptions(reverse=True, carries=True)


def oracle_pairs(a: int, b: int, base: int) -> str:
    """The answer by integer arithmetic: place k's carry in is what the lower k - 1 places overflow;
    its digit the sum's k-th digit; the units have no carry in."""
    total, out, k = a + b, [], 0
    while True:
        low = base ** k
        out.append(f"{(a % low + b % low) // low}{total // low % base}")
        k += 1
        if base ** k > total:
            return "".join(out)[1:]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**15), st.integers(0, 10**15), st.sampled_from(["addition", "base9_addition"]))
def test_pairs_are_the_carries_and_digits_of_integer_addition(a, b, name):
    task = build_task(TaskSpec(name=name))
    fmt = get_format("direct", task, options=CARRIES)
    target = fmt.target(task, a, b)
    assert target == oracle_pairs(a, b, task.base)
    assert fmt.read_answer(target) == task.answer(a, b) and fmt.is_correct(task, a, b, target)


def test_mixed_lengths_and_carry_chains_by_hand():
    task = build_task(TaskSpec())
    fmt = get_format("direct", task, options=CARRIES)
    assert fmt.target(task, 59, 13) == "217"  # 9+3 = 12: digit 2, carry 1 into the tens: 5+1+1 = 7
    assert fmt.target(task, 999, 1) == fmt.target(task, 1, 999) == "0101011"  # 1000, units first
    assert fmt.target(task, 0, 0) == "0"
    assert fmt.read_answer("21") is None  # a carry without its digit: no answer
    assert not fmt.is_correct(task, 59, 13, "27")  # the plain reversed answer is not this format's


def test_a_carry_and_its_digit_share_their_place_with_the_operand_digits_they_are_made_of():
    rule = PLACE_RULES["carries"]
    assert digit_places("999+1=") == [3, 2, 1, 0, 1, 0]
    assert rule.prompt("999+1=") == [3, 2, 1, 0, 1, 1]  # the "=" opens the units: it predicts their digit
    assert rule.target("0101011") == [1, 2, 2, 3, 3, 4, 4]
    assert rule.span("999+1=") == 4 and rule.levels == 1
    reader = Pairs()  # the decoder's reading, one character at a time, agrees with the rows'
    assert [reader.feed(ch) for ch in "217\n"] == rule.target("217\n") == [1, 2, 2, 0]


@pytest.mark.parametrize("options, format_name", [({"carries": True}, "direct"),
                                                  ({"reverse": True, "carries": True}, "scratchpad"),
                                                  ({"reverse": True, "index_hints": True, "carries": True}, "direct"),
                                                  ({"reverse": True, "carries": "yes"}, "direct")])
def test_carries_outside_a_reversed_direct_answer_are_refused(options, format_name):
    with pytest.raises(SpecError, match="carries"):
        from_dict(TrialSpec, {"format": format_name, "tokenizer": "digit", "format_options": options})


def test_the_cli_refuses_carries_without_reverse_before_writing(tmp_path):
    run = subprocess.run([sys.executable, "-m", "caseray", "trial", "--set", "format=direct",
                          "--set", "tokenizer=digit", "--set", "format_options.carries=true",
                          "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 2 and "format_options.carries" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_carries_off_keeps_every_earlier_name_and_on_makes_a_new_one():
    base = {"format": "direct", "tokenizer": "digit", "format_options": {"reverse": True},
            "model": {"scale": "llama-tiny", "positions": "coupled_random"},
            "lengths": {"train_digits": [1, 2], "test_digits": [1, 4]}}
    plain = from_dict(TrialSpec, base)
    off = from_dict(TrialSpec, {**base, "format_options": {"reverse": True, "carries": False}})
    on = from_dict(TrialSpec, {**base, "format_options": {"reverse": True, "carries": True}})
    assert plain.name == off.name != on.name
    assert "carries" not in json.dumps(plain.data_spec().key(build_tokenizer("digit")))
    assert on.label.startswith("addition·direct+reverse+carries")



def test_a_cached_table_in_another_form_is_rebuilt_not_served(tmp_path):
    """The cache serves a table only when its rows hold the text the format writes now: a table whose
    targets are in another form (as the first carries form's were) is rebuilt, with a warning."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from caseray.data.datasets import dataset_path, load_dataset

    spec = from_dict(TrialSpec, {"format": "direct", "tokenizer": "digit",
                                 "format_options": {"reverse": True, "carries": True},
                                 "lengths": {"train_digits": [1, 2], "test_digits": [1, 3],
                                             "train_per_length": 50, "test_per_length": 5}}).data_spec()
    table = load_dataset(spec, cache=tmp_path)
    path = dataset_path(spec, cache=tmp_path)
    old = table.set_column(table.schema.get_field_index("target"), "target",
                           pa.array(["0" + t for t in table["target"].to_pylist()]))  # the units' carry written
    pq.write_table(old.replace_schema_metadata(table.schema.metadata), path)
    with pytest.warns(UserWarning, match="not what format 'direct' writes now"):
        again = load_dataset(spec, cache=tmp_path)
    assert again["target"].to_pylist() == table["target"].to_pylist()
    assert load_dataset(spec, cache=tmp_path)["target"].to_pylist() == table["target"].to_pylist()


def test_the_carries_form_enters_dataset_and_trial_names():
    from caseray.data.datasets import options_key
    from caseray.data.formats.options import CARRIES_FORM

    assert options_key(CARRIES)["carries_form"] == CARRIES_FORM == 2
    assert "carries_form" not in options_key(FormatOptions(reverse=True))
