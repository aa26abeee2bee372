import warnings

import pyarrow.parquet as pq
import pytest

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.datasets import GridDataSpec, LengthDataSpec, dataset_path, load_dataset
from caseray.data.splits import SplitSpec
from caseray.data.tasks import TaskSpec
from caseray.data.tokenizers import build_tokenizer

SPEC = GridDataSpec(task=TaskSpec("addition", high=39), format="scratchpad",
                    split=SplitSpec(center=(20, 20), half_width=5), data_size=1000, seed=1)


def test_identical_spec_gives_identical_bytes(tmp_path):
    load_dataset(SPEC, tmp_path / "one")
    load_dataset(SPEC, tmp_path / "two")
    one, two = dataset_path(SPEC, tmp_path / "one"), dataset_path(SPEC, tmp_path / "two")
    assert one.name == two.name and one.read_bytes() == two.read_bytes()


def test_table_columns_and_contents(tmp_path):
    table = load_dataset(SPEC, tmp_path)
    rows = table.to_pylist()
    assert len(rows) == 1600
    assert {r["split"] for r in rows} == {"train", "test", "unused"}
    assert sum(r["split"] == "train" for r in rows) == 1000
    tok = build_tokenizer("number")
    for r in rows[:50]:
        assert r["answer"] == str(r["a"] + r["b"])
        assert tok.decode(r["prompt_ids"]) == r["prompt"] and tok.decode(r["target_ids"]) == r["target"]
        assert r["target_ids"][-1] == tok.eos_id
        assert r["target"].split("\n")[-1] == r["answer"]


def test_cache_is_reused_and_spec_changes_rename(tmp_path):
    load_dataset(SPEC, tmp_path)
    path = dataset_path(SPEC, tmp_path)
    mtime = path.stat().st_mtime_ns
    load_dataset(SPEC, tmp_path)
    assert path.stat().st_mtime_ns == mtime
    other = GridDataSpec(task=SPEC.task, format="scratchpad", split=SPEC.split, data_size=1000, seed=2)
    assert dataset_path(other, tmp_path) != path
    digit = GridDataSpec(task=SPEC.task, format="scratchpad", split=SPEC.split, data_size=1000, seed=1,
                         tokenizer="digit")
    assert dataset_path(digit, tmp_path) != path
    # fields a kind does not use do not rename its data
    a = GridDataSpec(split=SplitSpec(kind="random", test_size=441, center=(40, 40)))
    b = GridDataSpec(split=SplitSpec(kind="random", test_size=441))
    assert dataset_path(a, tmp_path) == dataset_path(b, tmp_path)


def test_corrupt_cache_is_rebuilt_not_read(tmp_path):
    table = load_dataset(SPEC, tmp_path)
    path = dataset_path(SPEC, tmp_path)
    path.write_bytes(path.read_bytes()[:100])  # a torn write from some other tool
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = load_dataset(SPEC, tmp_path)
    assert any("unreadable" in str(w.message) for w in caught)
    assert again.equals(table)
    assert pq.read_table(path).equals(table)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary files left


def test_length_dataset(tmp_path):
    spec = LengthDataSpec(format="direct", train_digits=(1, 3), test_digits=(1, 6), train_per_length=200,
                          test_per_length=30, seed=0)
    rows = load_dataset(spec, tmp_path).to_pylist()
    train = {(r["a"], r["b"]) for r in rows if r["split"] == "train"}
    test = {(r["a"], r["b"]) for r in rows if r["split"] == "test"}
    assert not train & test
    assert {r["n_digits"] for r in rows if r["split"] == "train"} == {1, 2, 3}
    assert {r["n_digits"] for r in rows if r["split"] == "test"} == set(range(1, 7))
    for r in rows:
        n = r["n_digits"]
        assert max(len(r["a"]), len(r["b"])) == n and r["answer"] == str(int(r["a"]) + int(r["b"]))
        assert r["family"] != "equal" or len(r["a"]) == len(r["b"]) == n
        assert r["split"] == "test" or r["family"] == "equal"  # training draws the default family only
    ones = [r for r in rows if r["n_digits"] == 1]  # 100 pairs: the test takes at most half, shared
    assert sum(r["split"] == "test" for r in ones) <= 50 and len(ones) == 100
    sixes = [r for r in rows if r["n_digits"] == 6]
    assert {r["family"] for r in sixes} == {"equal", "mixed", "short_long", "carry", "zero"} and len(sixes) == 150


def test_long_base9_rule_following(tmp_path):
    spec = LengthDataSpec(task=TaskSpec("base9_addition"), format="rule_following", train_digits=(1, 2),
                          test_digits=(12, 12), train_per_length=5, test_per_length=3)
    rows = load_dataset(spec, tmp_path).to_pylist()
    long = [r for r in rows if r["n_digits"] == 12]
    assert len(long) == 15 and sum(r["family"] == "equal" for r in long) == 3  # 3 of each of the 5 families
    for r in long:
        assert int(r["answer"], 9) == int(r["a"]) + int(r["b"])
        assert r["target"].count("while num1 or num2") >= 13


@pytest.mark.parametrize("data,field", [
    ({"task": {"name": "linear"}}, "task.name"),
    ({"train_digits": [3, 1]}, "train_digits[1]"),
    ({"test_per_length": 0}, "test_per_length"),
    ({"format": "rule_following", "task": {"name": "mod_addition"}}, "task.name"),
])
def test_bad_length_specs(data, field, tmp_path):
    with pytest.raises(SpecError) as err:
        from_dict(LengthDataSpec, data)
    assert err.value.field == field
    assert not (tmp_path / "cache").exists()
