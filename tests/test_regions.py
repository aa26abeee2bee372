"""Regions (split kind ``region``), the ``number_roles`` tokenizer and the ``difference`` task, each
against an oracle of plain loops and integer arithmetic that shares nothing with the code under test."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseray.cli.main import main
from caseray.core.errors import SpecError
from caseray.core.plain_data import load_yaml
from caseray.core.specs import from_dict
from caseray.data.datasets import GridDataSpec, dataset_name
from caseray.data.formats import FORMATS, get_format
from caseray.data.regions import Band, RegionPart
from caseray.data.splits import SplitSpec, make_split
from caseray.data.tasks import TaskSpec, build_task
from caseray.data.tokenizers import build_tokenizer, load_tokenizer
from caseray.trial.control import control_spec
from caseray.trial.metrics import region_metrics
from caseray.trial.spec import TrialSpec

# --- the oracle: which cells a region holds out, by loops over every cell ------------------------------


def _linf(p, q):
    return max(abs(p[0] - q[0]), abs(p[1] - q[1]))


def _in_part(part, a, b):
    """Plain-data part ({"square": [a0, b0, h]} or {"band": {...}}) holds cell (a, b)."""
    if "square" in part:
        a0, b0, h = part["square"]
        return abs(a - a0) <= h and abs(b - b0) <= h
    band = part["band"]
    lo, hi = band.get("a_range") or (-10**9, 10**9)
    return abs(a - b - band.get("offset", 0)) <= band.get("width", 0) and lo <= a <= hi


def _inside(task, part):
    """None when the part is inside the grid, else the field suffix that names why not."""
    (alo, ahi), (blo, bhi) = task.a_range, task.b_range
    if "square" in part:
        a0, b0, h = part["square"]
        return None if alo <= a0 - h and a0 + h <= ahi and blo <= b0 - h and b0 + h <= bhi else ".square"
    rng = part["band"].get("a_range")
    return None if rng is None or (alo <= rng[0] and rng[1] <= ahi) else ".band.a_range"


def _valid_cells(task):
    return [(a, b) for a in range(task.a_range[0], task.a_range[1] + 1)
            for b in range(task.b_range[0], task.b_range[1] + 1) if task.valid(a, b)]


def _empty_field(part):
    return ".band.offset" if "band" in part else ".square"


def region_oracle(task, hold, keep, frac):
    """("refused", field) when make_split must refuse the region (the first check that fails, in the
    documented order), else ("ok", {cell: (label, part, depth)})."""
    cells = _valid_cells(task)
    held = set()
    for i, part in enumerate(hold):
        field = f"split.hold[{i}]"
        if _inside(task, part):
            return "refused", field + _inside(task, part)
        mine = {c for c in cells if _in_part(part, *c)}
        if not mine - held:
            return "refused", field + ("" if mine else _empty_field(part))
        held |= mine
    kept = set()
    for i, part in enumerate(keep):
        field = f"split.keep[{i}]"
        if _inside(task, part):
            return "refused", field + _inside(task, part)
        meets = {c for c in cells if _in_part(part, *c)}
        mine = meets & held
        if not mine - kept:
            return "refused", field + ("" if meets else _empty_field(part))
        kept |= mine
    test = held - kept
    if not test:
        return "refused", "split.keep"
    if len(test) == len(cells) or len(test) > frac * len(cells):
        return "refused", "split"
    out = {}
    for c in cells:
        if c in test:
            part = next(k for k, p in enumerate(hold) if _in_part(p, *c))
            depth = min(_linf(c, o) for o in cells if o not in test)
            out[c] = ("test", part, depth)
        else:
            out[c] = ("train", -1, -1)
    return "ok", out


SMALL = [TaskSpec("addition", high=11), TaskSpec("addition", low=3, high=14), TaskSpec("difference", high=9),
         TaskSpec("linear", high=10), TaskSpec("chicken_rabbit", high=7), TaskSpec("mod_addition", modulus=13, high=12)]


def random_part(rng: random.Random, task, near: dict | None = None) -> dict:
    """A square or a band of ``task``'s grid, now and then reaching outside it; ``near``: a part to
    meet (often: keep parts that meet their hold parts)."""
    (alo, ahi), (blo, bhi) = task.a_range, task.b_range
    at = near["square"][:2] if near and "square" in near else None
    if rng.random() < 0.5:
        h = rng.randint(0, 3)
        slack = 1 if rng.random() < 0.15 else 0  # a square reaching outside the grid
        if at is not None:
            a0 = min(max(at[0] + rng.randint(-1, 1), alo + h - slack), ahi - h + slack)
            b0 = min(max(at[1] + rng.randint(-1, 1), blo + h - slack), bhi - h + slack)
            return {"square": [max(a0, 0), max(b0, 0), h]}
        return {"square": [rng.randint(max(0, alo + h - slack), ahi - h + slack),
                           rng.randint(max(0, blo + h - slack), bhi - h + slack), h]}
    centre = at[0] - at[1] if at is not None else (alo - bhi + ahi - blo) // 2
    wide = rng.random() < 0.2  # offsets anywhere, some missing the grid
    offset = rng.randint(alo - bhi - 2, ahi - blo + 2) if wide else centre + rng.randint(-3, 3)
    band = {"offset": offset, "width": rng.randint(0, 2)}
    if rng.random() < 0.4:
        lo = rng.randint(alo, ahi)
        band["a_range"] = [lo, min(rng.randint(lo, ahi + 1), ahi + (rng.random() < 0.1))]
    return {"band": band}


def random_region(seed: int):
    rng = random.Random(seed)
    task = build_task(rng.choice(SMALL))
    hold = [random_part(rng, task) for _ in range(rng.randint(1, 3))]
    keep = [random_part(rng, task, rng.choice(hold) if rng.random() < 0.7 else None)
            for _ in range(rng.choice([0, 0, 1, 1, 2]))]
    return task, hold, keep, rng.choice([0.3, 0.6, 0.9, 1.0]), rng.choice([None, None, 5])


def check_region(seed: int) -> str:
    task, hold, keep, frac, data_size = random_region(seed)
    spec = from_dict(SplitSpec, {"kind": "region", "hold": hold, "keep": keep, "max_test_fraction": frac})
    verdict, expect = region_oracle(task, hold, keep, frac)
    if verdict == "refused":
        with pytest.raises(SpecError) as err:
            make_split(task, spec, data_size=data_size, seed=seed)
        assert err.value.field == expect, str(err.value)
        return expect
    s = make_split(task, spec, data_size=data_size, seed=seed)
    got = {(a, b): (lab, k, r, d) for a, b, lab, k, r, d in zip(s.a.tolist(), s.b.tolist(), s.split.tolist(),
                                                                 s.square.tolist(), s.ring.tolist(),
                                                                 s.dist_train.tolist())}
    assert set(got) == set(expect) and len(got) == len(s.a)
    for c, (label, part, depth) in expect.items():
        g_label, g_part, g_ring, _ = got[c]
        assert (g_label == "test") == (label == "test"), c
        assert (g_part, g_ring) == (part, depth), (c, got[c], expect[c])
    train = [c for c, v in got.items() if v[0] == "train"]
    assert len(train) == (sum(v[0] == "train" for v in expect.values()) if data_size is None else data_size)
    for c, v in got.items():
        assert v[3] == min(_linf(c, t) for t in train), c
    assert s.squares == ()
    return "ok"


@given(st.integers(0, 2**32 - 1))
def test_regions_match_a_brute_force_oracle(seed):
    check_region(seed)


def test_the_random_regions_reach_every_outcome():
    """The generator above is worth its name: most draws are valid, and every refusal comes up."""
    outcomes = [check_region(seed) for seed in range(300)]
    assert outcomes.count("ok") >= 120
    seen = {re.sub(r"\[\d+\]", "[i]", o) for o in outcomes}
    assert seen >= {"ok", "split", "split.keep", "split.hold[i]", "split.keep[i]", "split.hold[i].square",
                    "split.hold[i].band.offset", "split.hold[i].band.a_range", "split.keep[i].band.a_range"}, seen


# --- the worked example: a diagonal square minus the band |a - b| <= 2 ---------------------------------

EXAMPLE = """
task: {name: addition, high: 19}
split:
  kind: region
  hold: [{square: [10, 10, 5]}]
  keep: [{band: {offset: 0, width: 2}}]
"""


def test_square_minus_band_on_a_20_by_20_grid():
    spec = from_dict(GridDataSpec, load_yaml(EXAMPLE, "spec"))
    assert spec.split.hold == (RegionPart(square=(10, 10, 5)),)
    assert spec.split.keep == (RegionPart(band=Band(offset=0, width=2)),)
    s = make_split(build_task(spec.task), spec.split)
    want = [(a, b) for a in range(20) for b in range(20)
            if abs(a - 10) <= 5 and abs(b - 10) <= 5 and abs(a - b) > 2]
    assert len(want) == 121 - (11 + 2 * 10 + 2 * 9)  # 72: the square less its 5 middle diagonals
    test = {(a, b) for a, b, lab in zip(s.a.tolist(), s.b.tolist(), s.split.tolist()) if lab == "test"}
    assert test == set(want)
    ring = {(a, b): r for a, b, r in zip(s.a.tolist(), s.b.tolist(), s.ring.tolist())}
    assert ring[(5, 15)] == 1 and ring[(10, 13)] == 1 and ring[(8, 13)] == 2  # (8, 13): 2 from (10, 12)
    for c in want:  # depth: to the nearest cell not held out, kept band cells included
        assert ring[c] == min(_linf(c, o) for o in ring if o not in test), c
    assert ring[(10, 10)] == -1 and ring[(0, 0)] == -1  # kept, and outside
    assert dataset_name(spec).startswith("grid-addition-direct-")


# --- every refusal names its field ---------------------------------------------------------------------

SQ = {"square": [10, 10, 3]}


@pytest.mark.parametrize("split,field,words", [
    ({"kind": "region"}, "split.hold", "at least one hold part"),
    ({"kind": "region", "hold": [{}]}, "split.hold[0]", "neither a square nor a band"),
    ({"kind": "region", "hold": [SQ, {"square": [1, 1, 1], "band": {}}]}, "split.hold[1]", "both"),
    ({"kind": "region", "hold": [SQ], "keep": [{}]}, "split.keep[0]", "neither"),
    ({"kind": "region", "hold": [{"band": {"width": -1}}]}, "split.hold[0].band.width", "minimum"),
    ({"kind": "region", "hold": [SQ, {"band": {"width": 1.5}}]}, "split.hold[1].band.width", "integer"),
    ({"kind": "region", "hold": [{"band": {"offset": "x"}}]}, "split.hold[0].band.offset", "integer"),
    ({"kind": "region", "hold": [{"band": {"a_range": [5, 3]}}]}, "split.hold[0].band.a_range[1]", "minimum 5"),
    ({"kind": "region", "hold": [{"band": {"a_range": [5]}}]}, "split.hold[0].band.a_range", "2 values"),
    ({"kind": "region", "hold": [{"band": {"colour": 1}}]}, "split.hold[0].band.colour", "unknown key"),
    ({"kind": "region", "hold": [{"circle": [1, 2]}]}, "split.hold[0].circle", "unknown key"),
    ({"kind": "region", "hold": [{"square": [10, 10]}]}, "split.hold[0].square", "3 values"),
    ({"kind": "region", "hold": [{"square": [10, -1, 2]}]}, "split.hold[0].square[1]", "minimum 0"),
    ({"kind": "region", "hold": [{"square": [17, 10, 3]}]}, "split.hold[0].square", "outside the grid"),
    ({"kind": "region", "hold": [{"band": {"a_range": [0, 20]}}]}, "split.hold[0].band.a_range", "outside"),
    ({"kind": "region", "hold": [{"band": {"offset": 20}}]}, "split.hold[0].band.offset", "-19 .. 19"),
    ({"kind": "region", "hold": [SQ, {"square": [10, 10, 2]}]}, "split.hold[1]", "adds nothing"),
    ({"kind": "region", "hold": [SQ], "keep": [{"square": [3, 3, 1]}]}, "split.keep[0]", "removes nothing"),
    ({"kind": "region", "hold": [SQ], "keep": [{"band": {"width": 0}}, {"band": {"width": 0, "a_range": [8, 12]}}]},
     "split.keep[1]", "keep parts before it"),
    ({"kind": "region", "hold": [SQ], "keep": [{"band": {"offset": -30}}]}, "split.keep[0].band.offset",
     "removes nothing"),
    ({"kind": "region", "hold": [SQ], "keep": [{"square": [10, 10, 4]}]}, "split.keep", "test part is empty"),
    ({"kind": "region", "hold": [{"band": {"width": 6}}]}, "split", "max_test_fraction"),
    ({"kind": "region", "hold": [{"band": {"width": 19}}], "max_test_fraction": 1.0}, "split", "none is left"),
    ({"kind": "square", "hold": [SQ]}, "split.hold", "only a region split"),
    ({"kind": "random", "keep": [SQ]}, "split.keep", "only a region split"),
])
def test_bad_regions_name_their_field(split, field, words):
    with pytest.raises(SpecError) as err:
        from_dict(TrialSpec, {"task": {"name": "addition", "high": 19}, "split": split})
    assert err.value.field == field, str(err.value)
    assert str(err.value).startswith(field + ": ") and words in str(err.value), str(err.value)


def test_a_bad_region_is_exit_2_from_the_command_line(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("task: {name: addition, high: 19}\nsplit: {kind: region, hold: [{band: {width: -2}}]}\n")
    assert main(["data", "split", "--spec", str(spec)]) == 2
    assert "split.hold[0].band.width" in capsys.readouterr().err
    spec.write_text(EXAMPLE)
    assert main(["data", "split", "--spec", str(spec)]) == 0
    assert "test 72" in capsys.readouterr().out


# --- names, controls and metrics ----------------------------------------------------------------------


def test_a_region_trial_is_named_by_its_parts():
    spec = from_dict(TrialSpec, load_yaml(EXAMPLE, "spec"))
    kind = spec.name.split("-")[3]
    assert re.fullmatch(r"region_[0-9a-f]{6}", kind), spec.name
    assert "region:sq10,10,5-band0w2" in spec.label
    other = from_dict(TrialSpec, {**load_yaml(EXAMPLE, "spec"), "split": {"kind": "region", "hold": [SQ]}})
    assert other.name.split("-")[3] != kind and other.hash != spec.hash
    control = control_spec(spec)  # a random split holding as many cells
    assert control.split.kind == "random" and control.split.test_size == 72


def test_region_metrics_by_depth_and_part():
    split = np.array(["test", "test", "test", "train", "test"])
    acc = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    out = region_metrics(split, acc, depth=np.array([1, 1, 2, -1, 1]), part=np.array([0, 1, 1, -1, 0]))
    assert out == {"depth_acc/1": 2 / 3, "depth_acc/2": 0.0, "part_acc/0": 1.0, "part_acc/1": 0.0}


# --- number_roles: the second operand in ids of its own ------------------------------------------------


def test_roles_give_equal_operands_different_ids():
    roles, number = build_tokenizer("number_roles"), build_tokenizer("number")
    ids = roles.encode("34+34=")
    assert len(ids) == 4 and ids[0] != ids[2]
    assert roles.decode(ids[:1]) == roles.decode(ids[2:3]) == "34"
    assert ids[0] == number.encode("34")[0] and ids[1:2] == number.encode("+") and ids[3:] == number.encode("=")
    assert roles.vocab[:number.vocab_size] == number.vocab  # number's ids unchanged
    assert roles.vocab_size == number.vocab_size + 199 and roles.spec == "number_roles:198"
    for a, b in ((7, 7), (0, 0), (99, 99), (12, 21)):
        ids = roles.encode(f"{a}-{b}=")
        assert ids[0] != ids[2] and roles.decode(ids) == f"{a}-{b}="


def _second_runs(text: str) -> list[str]:
    """The second digit run of every line (texts end lines too)."""
    out = []
    for line in text.split("\n"):
        runs = re.findall(r"\d+", line)
        out += runs[1:2]
    return out


TEXTS = st.text(st.sampled_from(list("0123456789+-=,()\nhlC: ")), max_size=40)


@given(st.lists(TEXTS, max_size=5), st.sampled_from([9, 99, 198, 1000]))
def test_roles_round_trip_and_mark_exactly_the_second_runs(texts, bound):
    roles, number = build_tokenizer(f"number_roles:{bound}"), build_tokenizer(f"number:{bound}")
    values, offsets = roles.encode_many(texts)
    for i, text in enumerate(texts):
        ids = values[offsets[i]:offsets[i + 1]].tolist()
        assert ids == roles.encode(text) and roles.decode(ids) == text
        # role ids back to number's ids for the same text: number's encoding exactly
        assert [number.ids[roles.texts[t]] if t >= number.vocab_size else t for t in ids] == number.encode(text)
        whole = [r for r in _second_runs(text) if len(r) <= len(str(bound)) and (len(r) == 1 or r[0] != "0")
                 and int(r) <= bound]
        spelled = sum(len(r) for r in _second_runs(text)) - sum(len(r) for r in whole)
        assert sum(t >= number.vocab_size for t in ids) == len(whole) + spelled


def test_roles_save_and_load_back(tmp_path):
    tok = build_tokenizer("number_roles:99")
    tok.save(tmp_path / "tok")
    assert not (tmp_path / "tok" / "tokenizer.json").exists()  # no Hugging Face copy (module docstring)
    back = load_tokenizer(tmp_path / "tok")
    text = "12+12=\n3+3,6,C:0\n24"
    assert back.spec == tok.spec and back.vocab == tok.vocab and back.encode(text) == tok.encode(text)
    assert back.fingerprint() == tok.fingerprint() != build_tokenizer("number:99").fingerprint()
    build_tokenizer("number").save(tmp_path / "plain")  # a number tokenizer saves as it always did
    assert "roles" not in json.loads((tmp_path / "plain" / "caseray_tokenizer.json").read_text())
    assert load_tokenizer(tmp_path / "plain").spec == "number:198"


@pytest.mark.parametrize("spec,words", [("number_roles:x", "number_roles:198"), ("number_roles:5", "9..1000000")])
def test_bad_roles_bound(spec, words):
    with pytest.raises(SpecError) as err:
        from_dict(TrialSpec, {"tokenizer": spec})
    assert err.value.field == "tokenizer" and words in str(err.value)


def test_roles_with_index_hints_are_refused():
    with pytest.raises(SpecError) as err:
        from_dict(TrialSpec, {"tokenizer": "number_roles", "format_options": {"index_hints": True}})
    assert err.value.field == "tokenizer" and "index hints" in str(err.value)


# --- difference: a - b + offset -----------------------------------------------------------------------


@given(st.data())
def test_difference_answers_are_plain_integer_arithmetic(data):
    low = data.draw(st.integers(0, 50))
    high = data.draw(st.integers(low + 1, low + 120))
    offset = data.draw(st.one_of(st.none(), st.integers(high - low, 400)))
    task = build_task(TaskSpec("difference", low=low, high=high, offset=offset))
    a, b = data.draw(st.integers(low, high)), data.draw(st.integers(low, high))
    assert task.question(a, b) == f"{a}-{b}="
    assert int(task.answer(a, b)) == a - b + (high if offset is None else offset) >= 0
    assert task.answer(a, b) == str(int(task.answer(a, b)))


def test_difference_defaults_and_asymmetry():
    task = build_task("difference")
    a, b = task.cells()
    assert len(a) == 10_000 and task.offset == 99
    assert task.answer(0, 99) == "0" and task.answer(99, 0) == "198" and task.answer(30, 12) != task.answer(12, 30)


@pytest.mark.parametrize("data,field,words", [
    ({"name": "difference", "high": 20, "offset": 19}, "task.offset", "at least high - low = 20"),
    ({"name": "difference", "offset": -1}, "task.offset", "minimum"),
    ({"name": "addition", "offset": 5}, "task.offset", "takes no offset"),
    ({"name": "linear", "offset": 5}, "task.offset", "takes no offset"),
])
def test_bad_offsets(data, field, words):
    with pytest.raises(SpecError) as err:
        from_dict(TaskSpec, data, "task")
    assert err.value.field == field and words in str(err.value), str(err.value)


SMALL_SQUARE = {"center": [10, 10], "half_width": 3}


@pytest.mark.parametrize("name", FORMATS.names())
def test_every_format_writes_difference_or_refuses_it(name):
    task = build_task(TaskSpec("difference", high=19))
    try:
        fmt = get_format(name, task)
    except SpecError as err:
        assert err.field == "format" and "'difference'" in str(err)
        with pytest.raises(SpecError) as err:
            from_dict(TrialSpec, {"task": {"name": "difference", "high": 19}, "format": name, "split": SMALL_SQUARE})
        assert err.value.field == "format"
        return
    for a, b in ((0, 19), (19, 0), (7, 7), (3, 15)):
        assert fmt.prompt(task, a, b).endswith(f"{a}-{b}=")
        assert fmt.read_answer(fmt.target(task, a, b)) == str(a - b + 19)
    from_dict(TrialSpec, {"task": {"name": "difference", "high": 19}, "format": name, "split": SMALL_SQUARE})


def test_direct_writes_difference():
    assert "difference" in get_format("direct").tasks


def test_a_difference_trial_spec_validates():
    spec = from_dict(TrialSpec, {"task": {"name": "difference"}, "split": {"center": [50, 50], "half_width": 10}})
    assert spec.name.startswith("difference-direct-number-square-")
    assert spec.data_spec().task.key() == {"name": "difference", "low": None, "high": None, "base": None,
                                           "modulus": None}
    with_offset = from_dict(TrialSpec, {"task": {"name": "difference", "offset": 150}})
    assert with_offset.hash != from_dict(TrialSpec, {"task": {"name": "difference"}}).hash
    assert with_offset.data_spec().task.key()["offset"] == 150


# --- a tiny trial: difference, number_roles, a region ------------------------------------------------


@pytest.mark.slow  # about 7 s on an idle 2-core machine, 18 s beside two running experiments
def test_a_tiny_region_trial_runs_end_to_end(tmp_path):
    import pyarrow.parquet as pq

    from caseray.trial.run import run_trial
    from helpers import tiny_spec

    split = from_dict(SplitSpec, {"kind": "region", "hold": [{"square": [10, 10, 3]},
                                                              {"band": {"offset": 5, "width": 0, "a_range": [14, 19]}}],
                                  "keep": [{"band": {"offset": 0, "width": 0}}]})
    spec = tiny_spec(task=TaskSpec("difference", high=19), split=split, tokenizer="number_roles")
    result = run_trial(spec, tmp_path)
    want = {(a, b) for a in range(20) for b in range(20)
            if ((abs(a - 10) <= 3 and abs(b - 10) <= 3) or (a - b == 5 and a >= 14)) and a != b}
    cells = pq.read_table(result.out_dir / "cells.parquet").to_pylist()
    assert {(c["a"], c["b"]) for c in cells if c["split"] == "test"} == want
    assert result.metrics["n_test"] == len(want) == 49 - 7 + 6
    assert {k for k in result.metrics if k.startswith(("depth_acc/", "part_acc/"))} == \
        {"depth_acc/1", "depth_acc/2", "part_acc/0", "part_acc/1"}
    assert "square_acc" not in result.metrics and "ring_slope" not in result.metrics
    assert {c["square"] for c in cells if c["split"] == "test" and c["a"] - c["b"] == 5 and c["a"] >= 14} == {1}
    assert not (result.out_dir / "model" / "tokenizer.json").exists()  # number_roles: no Hugging Face copy
    assert load_tokenizer(result.out_dir / "tokenizer").spec == "number_roles:198"
    assert (result.out_dir / "holemap.png").exists() and (result.out_dir / "holemap.html").exists()
