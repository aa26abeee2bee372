"""The ``digit_roles`` tokenizer: ``digit`` with every digit of a line's second digit run in a token of
its own (so the two operands' digits of one place are never the same token under coupled ids)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.tokenizers import build_tokenizer, load_tokenizer
from caseray.trial.spec import TrialSpec

TEXTS = st.text(st.sampled_from(list("0123456789+-=,()\nhlC: ")), max_size=40)


def second_run_chars(text: str) -> set[int]:
    """Indices (into ``text``) of the characters of each line's second digit run, by regex."""
    out, start = set(), 0
    for line in text.split("\n"):
        runs = list(re.finditer(r"\d+", line))
        if len(runs) > 1:
            out |= set(range(start + runs[1].start(), start + runs[1].end()))
        start += len(line) + 1
    return out


@given(st.lists(TEXTS, max_size=5))
def test_each_digit_of_a_second_run_and_only_those_get_role_ids(texts):
    roles, digit = build_tokenizer("digit_roles"), build_tokenizer("digit")
    values, offsets = roles.encode_many(texts)
    for i, text in enumerate(texts):
        ids = values[offsets[i]:offsets[i + 1]].tolist()
        assert ids == roles.encode(text) and roles.decode(ids) == text
        assert len(ids) == len(text)  # one token per character: coupled ids read places off the text
        second = second_run_chars(text)
        expected = [roles.vocab.index(f"<b:{ch}>") if k in second else digit.encode(ch)[0]
                    for k, ch in enumerate(text)]
        assert ids == expected


def test_equal_operand_digits_become_different_tokens_and_digit_ids_stay():
    roles, digit = build_tokenizer("digit_roles"), build_tokenizer("digit")
    ids = roles.encode("77+77=451")
    assert ids[0] == ids[1] != ids[3] == ids[4] and ids[:3] == digit.encode("77+")
    assert ids[5:] == digit.encode("=451")  # the answer keeps digit's ids
    assert roles.vocab[:digit.vocab_size] == digit.vocab and roles.vocab_size == digit.vocab_size + 10
    assert roles.spec == "digit_roles" and roles.fingerprint() != digit.fingerprint()


def test_digit_roles_save_and_load_back(tmp_path):
    tok = build_tokenizer("digit_roles")
    tok.save(tmp_path / "tok")
    assert not (tmp_path / "tok" / "tokenizer.json").exists()  # no Hugging Face copy, as number_roles
    meta = json.loads((tmp_path / "tok" / "caseray_tokenizer.json").read_text())
    assert meta["roles"] is True and meta["bound"] is None
    back = load_tokenizer(tmp_path / "tok")
    text = "999+1=0001\n12+12,3"
    assert back.spec == "digit_roles" and back.encode(text) == tok.encode(text)


def test_bad_digit_roles_specs_name_the_field():
    with pytest.raises(SpecError) as err:
        from_dict(TrialSpec, {"tokenizer": "digit_roles:3"})
    assert err.value.field == "tokenizer" and "takes no argument" in str(err.value)
    with pytest.raises(SpecError) as err:
        from_dict(TrialSpec, {"tokenizer": "digit_roles", "format_options": {"index_hints": True}})
    assert err.value.field == "tokenizer" and "index hints" in str(err.value)


def test_coupled_ids_take_digit_roles_and_not_whole_numbers():
    base = {"format": "direct", "format_options": {"reverse": True}, "lengths": {"train_digits": [1, 3],
            "test_digits": [1, 4]}, "model": {"scale": "llama-tiny", "positions": "coupled_random"}}
    assert from_dict(TrialSpec, {**base, "tokenizer": "digit_roles"}).tokenizer == "digit_roles"
    with pytest.raises(SpecError) as err:
        from_dict(TrialSpec, {**base, "tokenizer": "number_roles"})
    assert err.value.field == "model.positions" and "digit_roles" in str(err.value)
