import functools
import json

import numpy as np
import pytest
from hypothesis import given, settings
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


# --- the Hugging Face copy a CharTokenizer saves ------------------------------------------------

HF_SPECS = ["digit", "number", "number:9", "number:10", "number:99", "number:1000", "number:12345"]


@pytest.fixture(scope="module")
def hf_tokenizers(tmp_path_factory):
    """Each spec's caseray tokenizer, and its save loaded back by transformers alone (AutoTokenizer)."""
    from transformers import AutoTokenizer

    out = {}
    for spec in HF_SPECS:
        folder = tmp_path_factory.mktemp(spec.replace(":", "_"))
        tok = build_tokenizer(spec)
        tok.save(folder)
        out[spec] = tok, AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return out


@pytest.mark.parametrize("bound", [9, 10, 99, 198, 1000, 12345, 99_999, 1_000_000])
def test_number_pattern_spells_exactly_0_to_bound(bound):
    """The regex's ranges, read by Python's re: every numeral 0..bound, nothing above it, no leading zeros."""
    import re

    from caseray.data.tokenizers import number_pattern

    rule = re.compile(f"(?:{number_pattern(bound)})")
    near = list(range(0, min(bound, 12_000) + 1)) + list(range(max(0, bound - 1500), bound + 1))
    above = list(range(bound + 1, bound + 1500)) + [10 * bound, 10 ** len(str(bound))]
    assert all(rule.fullmatch(str(n)) for n in near)
    assert not any(rule.fullmatch(str(n)) for n in above)
    assert not any(rule.fullmatch("0" + str(n)) for n in near[:2000:7])
    assert len(number_pattern(bound)) < 30 * len(str(bound))  # ranges, not one alternative per number


def test_hf_copy_has_caseray_ids_and_specials(hf_tokenizers):
    for spec, (tok, hf) in hf_tokenizers.items():
        assert hf.get_vocab() == {t: i for i, t in enumerate(tok.vocab)}, spec
        assert (hf.pad_token_id, hf.bos_token_id, hf.eos_token_id) == (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2)
        assert hf.padding_side == "left"


def test_hf_copy_names_a_class_transformers_4_and_5_both_load(tmp_path):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    build_tokenizer("number").save_hf(tmp_path)
    assert not (tmp_path / "caseray_tokenizer.json").exists()  # save_hf: the Hugging Face files only
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"  # (transformers 5's own name is new in 5)
    assert isinstance(AutoTokenizer.from_pretrained(tmp_path, local_files_only=True), PreTrainedTokenizerFast)


@functools.cache
def grid_texts() -> list[str]:
    """Prompt and target of the cells of small grids -- every cell of each task's 6 x 6 corner of
    smallest operands, 8 cells spread over its 4 largest operand values -- in every format the task
    takes, with every format option it allows (about 0.7M characters: rule-following traces are long)."""
    from caseray.core.errors import SpecError
    from caseray.data.formats import FORMATS
    from caseray.data.formats.options import FormatOptions
    from caseray.data.tasks import TASKS, TaskSpec

    texts = set()
    for name in TASKS.names():
        high = TASKS.get(name).defaults["high"]
        for task, most in ((build_task(TaskSpec(name, high=5)), 36),
                           (build_task(TaskSpec(name, low=high - 3, high=high)), 8)):
            a, b = task.cells()
            pick = np.unique(np.linspace(0, len(a) - 1, min(most, len(a))).astype(int))
            for fmt_name in FORMATS.names():
                for options in (None, FormatOptions(reverse=True), FormatOptions(index_hints=True),
                                FormatOptions(reverse=True, index_hints=True)):
                    try:
                        fmt = get_format(fmt_name, task, options=options)
                    except SpecError:
                        continue
                    for i in pick:
                        texts.update((fmt.prompt(task, int(a[i]), int(b[i])), fmt.target(task, int(a[i]), int(b[i]))))
    return sorted(texts)


@pytest.mark.parametrize("spec", HF_SPECS)
def test_hf_copy_encodes_every_grid_text_as_caseray_feeds_it(spec, hf_tokenizers):
    (tok, hf), texts = hf_tokenizers[spec], grid_texts()
    assert len(texts) > 1000 and any(len(t) > 2000 for t in texts)  # rule-following traces included
    got = hf(texts)["input_ids"]
    values, offsets = tok.encode_many(texts)
    want = [[tok.bos_id] + values[offsets[i]:offsets[i + 1]].tolist() for i in range(len(texts))]
    assert got == want
    assert hf.batch_decode(got, skip_special_tokens=True) == texts


GAPS = st.sampled_from(["", "", "\n", " ", "  ", "+", "-", "=", ",", "(", ")", "<eos>", "<bos>", "<pad>", "<", ">",
                        "h", "C:", "\n\n"])  # "": the next numeral glued on


def numerals(bound: int):
    """Digit runs: numbers at the bound, small, large; zero-padded; arbitrary runs of digits."""
    number = st.one_of(st.integers(max(0, bound - 3), bound + 3), st.integers(0, 12), st.integers(0, 10 * bound + 10))
    return st.one_of(number.map(str), number.map(lambda n: "0" + str(n)),
                     st.text(st.sampled_from("0123456789"), min_size=1, max_size=12))


def assert_same(tok, hf, text):
    ids = hf(text)["input_ids"]
    assert ids == [tok.bos_id] + tok.encode(text), text
    assert hf(text, add_special_tokens=False)["input_ids"] == ids[1:]
    assert hf.decode(ids, skip_special_tokens=True) == tok.decode(ids) == text


@pytest.mark.parametrize("spec", HF_SPECS)
def test_hf_copy_agrees_with_caseray_at_the_bound(spec, hf_tokenizers):
    """The runs either side of the bound, one by one and glued to digits or other runs."""
    tok, hf = hf_tokenizers[spec]
    bound = tok.bound if tok.bound is not None else 198
    runs = [str(n) for n in (0, 9, 10, bound - 1, bound, bound + 1, 10 * bound)]
    runs += ["0" + str(bound), str(bound) + "0", "1" + str(bound), str(bound) * 2, "00", "0"]
    for run in runs:
        for text in (run, f"={run}\n", f"{run}+{run}", f"{run}<eos>{run}", f" {run} "):
            assert_same(tok, hf, text)
    pieces = [hf.decode([i]) for i in hf(" ".join(runs))["input_ids"][1:]]
    assert (str(bound) in pieces) == (tok.bound is not None) and str(bound + 1) not in pieces  # a token or three


@pytest.mark.parametrize("spec", HF_SPECS)
@settings(derandomize=True, max_examples=150, deadline=None)
@given(data=st.data())
def test_hf_copy_agrees_with_caseray_on_random_text(spec, hf_tokenizers, data):
    """Digit-heavy strings: numbers at and around the bound, with leading zeros, runs longer than the
    bound's, glued to other numbers, spaces, newlines and literal special-token text between them."""
    tok, hf = hf_tokenizers[spec]
    bound = tok.bound if tok.bound is not None else 198
    gap = st.one_of(GAPS, st.text(st.sampled_from(CHARS), max_size=4))
    parts = data.draw(st.lists(st.tuples(numerals(bound), gap), min_size=1, max_size=12))
    assert_same(tok, hf, "".join(a + b for a, b in parts))
    noisy = data.draw(st.lists(st.integers(0, tok.vocab_size - 1), max_size=30))  # specials anywhere
    assert hf.decode(noisy, skip_special_tokens=True) == tok.decode(noisy)


def test_hf_copy_refuses_what_caseray_refuses(hf_tokenizers):
    with pytest.raises(ValueError):
        build_tokenizer("number").encode("1+é")
    with pytest.raises(Exception, match="(?i)unk|missing"):
        hf_tokenizers["number"][1]("1+é")
