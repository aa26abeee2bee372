"""Presets use the hardware they are given: cluster presets ask for GPUs, bf16 and ``device: auto``
(packing small models by fractional GPUs); local presets stay on the CPU. A sweep whose GPUs cannot be
given stops with exit 2 naming the field, before anything is written."""

import argparse

import pytest

from caseray.cli.main import main
from caseray.cli.plan import plan_from_args
from caseray.cli.sweep import build_sweep
from caseray.core.errors import SpecError
from caseray.presets import SWEEPS, presets
from caseray.presets.hardware import SHARED, WHOLE, gpu_resources
from caseray.sweep.ray import DRIVER_MARK, NODE_GPUS_MARK, check_cluster_gpus
from caseray.sweep.spec import Resources
from caseray.train.models import ModelSpec, build_model

CLUSTER = {"paper", "full"}
NO_OVERRIDES = argparse.Namespace(set=[], axis=[], storage=None, tracking_uri=None, cpus_per_trial=None)
ALL = [(sweep, name) for sweep in SWEEPS.names() for name in presets(sweep)]


def sweep_of(sweep: str, name: str):
    return build_sweep(presets(sweep)[name], NO_OVERRIDES)


@pytest.mark.parametrize("sweep, name", [c for c in ALL if c[1] in CLUSTER])
def test_cluster_presets_ask_for_gpus_in_bf16_on_device_auto(sweep, name):
    built = sweep_of(sweep, name)
    specs = built.trials()
    assert built.resources.gpus_per_trial > 0
    assert {s.device for s in specs} == {"auto"} and {s.train.precision for s in specs} == {"bf16"}
    assert built.resources == Resources(**gpu_resources({s.model.scale for s in specs}))


@pytest.mark.parametrize("sweep, name", [c for c in ALL if c[1] not in CLUSTER])
def test_local_presets_stay_on_the_cpu(sweep, name):
    built = sweep_of(sweep, name)
    assert built.resources.gpus_per_trial == 0 and {s.device for s in built.trials()} == {"cpu"}


def test_gpu_share_follows_the_largest_scale():
    assert gpu_resources(["tiny", "base"])["gpus_per_trial"] == 0.25
    assert gpu_resources(["tiny", "gpt2-124m"]) == {"gpus_per_trial": 1, "cpus_per_trial": 4, "backend": "inline"}
    big = gpu_resources(["gpt2-355m"])
    assert big["backend"] == "deepspeed" and big["zero_stage"] == 2
    from caseray.data.tokenizers import build_tokenizer

    tok = build_tokenizer("number")  # the shared tier is what the docstring says: under 20M parameters
    sizes = {s: sum(p.numel() for p in build_model(ModelSpec(scale=s), tok, 32).parameters()) for s in SHARED + WHOLE}
    assert max(sizes[s] for s in SHARED) < 20e6 < min(sizes[s] for s in WHOLE)


def test_plan_shows_gpu_hours_for_the_paper_preset_without_any_set():
    args = argparse.Namespace(sweep="square_grid", preset="paper", set=[], axis=[], cpus_per_trial=None,
                              gpus_per_trial=None, gpu="H100", mfu=None, cluster=None)
    plan = plan_from_args(args)
    assert plan["resources"]["gpus_per_trial"] == 0.25 and plan["totals"]["gpu_hours"] > 0
    assert plan["cluster"]["node_type"] == "gpu_worker"
    args.gpus_per_trial = 0  # the same sweep on CPUs, as asked
    assert plan_from_args(args)["totals"]["gpu_hours"] == 0


def test_the_paper_preset_on_a_machine_without_a_gpu_stops_naming_the_field(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)  # no GPU, also on a machine that has one
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.chdir(tmp_path)
    code = main(["sweep", "run", "square_grid", "--preset", "paper", "--storage", str(tmp_path / "out"),
                 "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"])
    assert code == 2
    err = capsys.readouterr().err
    assert "resources.gpus_per_trial: 0.25 GPU(s) per trial, but this machine has 0" in err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []  # nothing written, no store made


def test_gpus_per_trial_0_runs_a_gpu_preset_on_the_cpu():
    args = argparse.Namespace(**vars(NO_OVERRIDES), gpus_per_trial=0)
    built = build_sweep(presets("square_grid")["paper"], args)
    assert built.resources.gpus_per_trial == 0 and {s.device for s in built.trials()[:5]} == {"auto"}


def test_cuda_trials_given_no_gpu_are_refused():
    args = argparse.Namespace(**{**vars(NO_OVERRIDES), "set": ["device=cuda"]}, gpus_per_trial=0)
    with pytest.raises(SpecError) as err:
        build_sweep(presets("square_grid")["paper"], args).trials()
    assert err.value.field == "device" and "gives it no GPU" in err.value.message


def node(gpus: float, alive: bool = True) -> dict:
    return {"Alive": alive, "Resources": {"CPU": 8.0, **({"GPU": gpus} if gpus else {})}}


@pytest.mark.parametrize("res, cluster, nodes, refused", [
    (Resources(gpus_per_trial=1), {"CPU": 16.0}, [node(0), node(0)], True),  # a CPU-only static cluster
    (Resources(gpus_per_trial=0.25), {"CPU": 16.0, "GPU": 8.0}, [node(0), node(8)], False),
    (Resources(gpus_per_trial=8), {"GPU": 4.0}, [node(4), node(4)], True),  # 8 on one node: no node has 8
    (Resources(gpus_per_trial=8, num_workers=2, backend="ddp"), {"GPU": 8.0}, [node(4), node(4)], False),
    (Resources(gpus_per_trial=4), {"GPU": 4.0}, [node(4, alive=False), node(0)], True),  # a dead node gives none
    (Resources(gpus_per_trial=1), {DRIVER_MARK: 64.0, NODE_GPUS_MARK: 8.0}, [node(0)], False),  # scales up to 8
    (Resources(gpus_per_trial=16), {DRIVER_MARK: 64.0, NODE_GPUS_MARK: 8.0}, [node(0)], True),
    (Resources(gpus_per_trial=16), {DRIVER_MARK: 64.0}, [node(0)], False),  # autoscaling, shape unknown
    (Resources(gpus_per_trial=1), {DRIVER_MARK: 64.0, NODE_GPUS_MARK: 0.0}, [node(0)], True),  # CPU-only config
    (Resources(), {"CPU": 2.0}, [node(0)], False),
])
def test_cluster_gpu_check(res, cluster, nodes, refused):
    if not refused:
        check_cluster_gpus(res, cluster, nodes)
        return
    with pytest.raises(SpecError) as err:
        check_cluster_gpus(res, cluster, nodes)
    assert err.value.field == "resources.gpus_per_trial" and "cannot give them" in err.value.message
