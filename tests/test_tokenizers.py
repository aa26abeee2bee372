import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseray.data.formats import get_format
from caseray.data.tasks import build_task
from caseray.data.tokenizers import CHARS, build_tokenizer, load_tokenizer
from helpers import save_tiny_hf_tokenizer

TEXT = st.text(alphabet=st.sampled_from(CHARS), max_size=200)


@pytest.mark.parametrize("spec", ["number", "digit", "number:999"])
@given(text=TEXT)
def test_round_trip(spec, text):
    tok = build_tokenizer(spec)
    assert tok.decode(tok.encode(text)) == text


@given(st.lists(TEXT, max_size=8))
def test_batched_encoding_equals_one_by_one(texts):
    tok = build_tokenizer("number")
    values, offsets = tok.encode_many(texts)
    assert [values[offsets[i]:offsets[i + 1]].tolist() for i in range(len(texts))] == [tok.encode(t) for t in texts]


def test_number_tokens():
    tok = build_tokenizer("number")
    assert len(tok.encode("198")) == 1 and len(tok.encode("199")) == 3
    assert len(tok.encode("07")) == 2  # zero-padded digits are not a number token
    assert tok.encode("59+13=") == [tok.ids["59"], tok.ids["+"], tok.ids["13"], tok.ids["="]]
    assert len(build_tokenizer("digit").encode("59+13=")) == 6


def test_direct_answers_are_one_number_token_up_to_the_bound():
    tok, task, fmt = build_tokenizer("number"), build_task("addition"), get_format("direct")
    for a in range(100):
        for b in range(100):
            ids = tok.encode(fmt.target(task, a, b))
            assert len(ids) == (1 if a + b <= 198 else 3)


@pytest.mark.parametrize("spec", ["number", "digit", "number:500"])
def test_save_and_load_back_identically(spec, tmp_path):
    tok = build_tokenizer(spec)
    tok.save(tmp_path)
    back = load_tokenizer(tmp_path)
    assert back.spec == tok.spec and back.vocab == tok.vocab
    text = "h50,l140=\n140-100=40\n20,30"
    assert back.encode(text) == tok.encode(text)


def test_saved_vocabulary_is_checked(tmp_path):
    build_tokenizer("digit").save(tmp_path)
    meta = json.loads((tmp_path / "caseray_tokenizer.json").read_text())
    meta["vocab"] = meta["vocab"][::-1]
    (tmp_path / "caseray_tokenizer.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="vocabulary differs"):
        load_tokenizer(tmp_path)


def test_unknown_characters_are_an_error():
    with pytest.raises(ValueError, match="'é'"):
        build_tokenizer("digit").encode("1+é")
    with pytest.raises(ValueError, match="'\\\\t'"):
        build_tokenizer("number").encode("1\t2")


def test_local_hf_tokenizer(tmp_path):
    save_tiny_hf_tokenizer(tmp_path / "tok")
    tok = build_tokenizer(f"hf:{tmp_path / 'tok'}")
    text = "59+13,,C:0\n5+1,2,C:1\n72"
    assert tok.decode(tok.encode(text)) == text
    assert tok.eos_id == tok.pad_id  # no pad token: padded with eos
    tok.save(tmp_path / "saved")
    back = load_tokenizer(tmp_path / "saved")
    assert back.encode(text) == tok.encode(text)
    assert back.fingerprint() == tok.fingerprint()
