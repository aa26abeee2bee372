import pytest

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.sweep.spec import SweepSpec

BASE = {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3},
        "train": {"steps": 20, "batch_size": 32, "log_every": 10}, "save_model": False}


def test_axes_expand_to_validated_trials():
    sweep = from_dict(SweepSpec, {"name": "t", "base": BASE, "axes": {
        "tokenizer": ["number", "digit"], "split": [{"center": [10, 10], "half_width": 3},
                                                    {"kind": "random", "test_size": 49}], "seed": [0, 1, 2]}})
    specs = sweep.trials()
    assert len(specs) == 12 and len({s.hash for s in specs}) == 12
    assert [s.tokenizer for s in specs[:6]] == ["number"] * 6
    assert {s.split.kind for s in specs} == {"square", "random"} and {s.seed for s in specs} == {0, 1, 2}
    assert sweep.id.startswith("t-") and sweep.id == from_dict(SweepSpec, sweep_dict(sweep)).id


def test_a_list_of_grids_joins_their_trials():
    from caseray.sweep.spec import grid_trials

    sweep = from_dict(SweepSpec, {"name": "t", "base": BASE, "axes": [
        {"task.name": ["addition", "linear"], "seed": [0, 1]}, {"split.half_width": [2], "seed": [0, 1]}]})
    specs = sweep.trials()
    assert len(specs) == 6 and [s.name for s in grid_trials(sweep, 1)] == [s.name for s in specs[4:]]
    assert {s.split.half_width for s in specs[4:]} == {2} and specs[4].task.name == "addition"
    with pytest.raises(SpecError, match=r"grid 0: .*seed=0.* and grid 1: seed=0 are the same trial"):
        from_dict(SweepSpec, {"name": "t", "base": BASE, "axes": [{"seed": [0]}, {"seed": [0]}]}).trials()
    with pytest.raises(SpecError, match=r"axes\[1\]\.seed.*non-empty"):
        from_dict(SweepSpec, {"name": "t", "base": BASE, "axes": [{"seed": [0]}, {"seed": []}]})
    with pytest.raises(SpecError, match="axes"):
        from_dict(SweepSpec, {"name": "t", "base": BASE, "axes": []})


def sweep_dict(sweep):
    return sweep.to_dict()


@pytest.mark.parametrize("data,field,words", [
    ({"axes": {"split.half_width": [3, 15]}}, "split.half_width", "split.half_width=15"),
    ({"axes": {"tokenizer": ["number", "bpe"]}}, "tokenizer", "tokenizer='bpe'"),
    ({"axes": {"train.lr": [1e-3, -1]}}, "train.lr", "train.lr=-1"),
    ({"axes": {"trian.lr": [1e-3]}}, "trian", "unknown key"),
    ({"axes": {"seed": []}}, "axes.seed", "non-empty"),
    ({"axes": {"threads": [1, 2]}}, "axes", "are the same trial"),
    ({"resources": {"backend": "horovod"}}, "resources.backend", "allowed: inline, ddp, deepspeed"),
    ({"resources": {"num_workers": 2}}, "resources.num_workers", "backend ddp"),
    ({"resources": {"backend": "deepspeed", "zero_stage": 4}}, "resources.zero_stage", "maximum 3"),
    ({"resources": {"backend": "ddp", "offload": True}}, "resources.offload", "deepspeed"),
    ({"resources": {"backend": "ddp", "num_workers": 2, "gpus_per_trial": 1}}, "resources.gpus_per_trial", "whole GPU"),
    ({"resources": {"backend": "ddp", "num_workers": 4}, "axes": {"train.batch_size": [2]}}, "train.batch_size",
     "split over 4 workers"),
    ({"resources": {"gpus_per_trial": 0.5}}, "device", "runs on the CPU"),
    ({"resources": {"gpus_per_trial": 1.5}}, "resources.gpus_per_trial", "whole number"),
    ({"tracking_uri": "mlruns/"}, "tracking_uri", "sqlite:"),
    ({"storage_path": "ftp://host/sweeps"}, "storage_path", "not a results location"),
    ({"name": "a b"}, "name", "letters"),
])
def test_bad_sweeps_fail_before_ray(data, field, words):
    with pytest.raises(SpecError) as err:
        from_dict(SweepSpec, {"name": "t", "base": BASE, **data}).trials()
    assert err.value.field == field, str(err.value)
    assert words in str(err.value)


def test_square_grid_presets_validate():
    from argparse import Namespace

    from caseray.cli.sweep import build_sweep
    from caseray.presets import presets

    args = Namespace(set=[], axis=[], storage=None, tracking_uri=None, cpus_per_trial=None)
    counts = {name: len(build_sweep(p, args).trials()) for name, p in presets("square_grid").items()}
    assert counts == {"smoke": 16, "paper": 960}


def test_controls_add_one_paired_random_split_per_size_and_keep_names():
    base = {"task": {"high": 29}, "train": {"steps": 10}}
    axes = {"split": [{"center": [8, 8], "half_width": 3}, {"center": [20, 20], "half_width": 3},
                      {"center": [15, 15], "half_width": 5}], "seed": [0, 1]}
    plain = from_dict(SweepSpec, {"base": base, "axes": axes})
    paired = from_dict(SweepSpec, {"base": base, "axes": axes, "controls": True})
    squares, with_ctrl = plain.trials(), paired.trials()
    assert [s.name for s in with_ctrl[:len(squares)]] == [s.name for s in squares]  # names unchanged
    controls = with_ctrl[len(squares):]
    # h=3 holds 49 cells, h=5 holds 121: one control per (size, seed), shared by the two h=3 centres
    assert sorted((c.split.test_size, c.seed) for c in controls) == [(49, 0), (49, 1), (121, 0), (121, 1)]
    assert all(c.split.kind == "random" and c.split.seed == c.seed and c.task == squares[0].task for c in controls)
    assert paired.id != plain.id and plain.id == from_dict(SweepSpec, {"base": base, "axes": axes}).id
