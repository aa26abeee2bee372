"""GPU paths (skipped without a CUDA GPU): DeepSpeed ZeRO-2 on one GPU, a bf16 DDP trial, and tiny
trials packed onto one GPU by fractional GPU resources."""

import pytest
import torch

from caseray.core.specs import from_dict
from caseray.sweep.spec import SweepSpec

pytestmark = [pytest.mark.gpu, pytest.mark.slow,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

BASE = {"task": {"high": 29}, "split": {"center": [15, 15], "half_width": 4}, "tokenizer": "digit",
        "device": "cuda", "save_model": False,
        "train": {"steps": 600, "batch_size": 128, "log_every": 100, "checkpoint_every": 200, "precision": "bf16"}}


@pytest.fixture(scope="module")
def ray_gpu():
    import ray

    from caseray.sweep.ray import init_ray

    init_ray(num_cpus=4)
    yield
    ray.shutdown()


def gpu_sweep(tmp_path, name, axes=None, **resources) -> SweepSpec:
    return from_dict(SweepSpec, {"name": name, "storage_path": str(tmp_path / "out"),
                                 "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db", "base": BASE,
                                 "axes": axes or {"seed": [0]}, "resources": resources})


@pytest.mark.parametrize("backend", ["deepspeed", "ddp"])
def test_one_gpu_bf16_trial_learns(ray_gpu, tmp_path, backend):
    from caseray.sweep.ray import run_sweep

    (outcome,) = run_sweep(gpu_sweep(tmp_path, backend, backend=backend, num_workers=1, gpus_per_trial=1,
                                     cpus_per_trial=1, zero_stage=2))
    assert outcome.error is None
    assert outcome.metrics["train_acc"] > 0.9, outcome.metrics  # it learned, on the GPU, in bf16
    ckpts = list((tmp_path / "out").glob(f"*/train/{outcome.spec.name}/step-*"))
    assert ckpts, "no Ray Train checkpoint was reported"


def test_tiny_trials_share_one_gpu(ray_gpu, tmp_path):
    """Four inline trials at 0.25 GPU each run at the same time on one GPU."""
    from caseray.sweep.ray import concurrent_trials, run_sweep

    sweep = gpu_sweep(tmp_path, "packed", {"seed": [0, 1, 2, 3]}, gpus_per_trial=0.25, cpus_per_trial=1)
    import ray

    assert concurrent_trials(ray.cluster_resources(), sweep.resources, 4) == 4
    outcomes = run_sweep(sweep)
    assert all(o.error is None and o.metrics["train_acc"] > 0.9 for o in outcomes)
