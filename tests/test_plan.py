"""caseray plan: parameter counts, FLOPs by hand, CPU and GPU cluster shapes, JSON, bad input (no Ray)."""

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from caseray.cli.main import main
from caseray.cli.plan import plan_from_args
from caseray.core.specs import from_dict
from caseray.data.tokenizers import build_tokenizer
from caseray.report.cluster_shape import wall_seconds
from caseray.report.costs import (
    ASSUMED_MFU,
    CPU_TOKENS_PER_S,
    GPU_STEP_FLOOR_S,
    OVERHEAD_S,
    PEAK_FLOPS,
    model_shape,
)
from caseray.report.plan import make_plan
from caseray.sweep.spec import SweepSpec
from caseray.train.models import ModelSpec, build_model

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = {"max_workers": 4, "head_node_type": "head", "available_node_types": {
    "head": {"resources": {"CPU": 4}, "node_config": {}},
    "cpu": {"max_workers": 4, "resources": {"CPU": 16}, "node_config": {}},
    "gpu": {"max_workers": 3, "resources": {"CPU": 96, "GPU": 8}, "node_config": {}}}}


@pytest.fixture(autouse=True)
def _at_the_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # sweep names and the default cluster resolve as from a checkout


def plan_args(sweep="square_grid", **kw) -> argparse.Namespace:
    args = dict(sweep=sweep, preset=None, set=[], axis=[], cpus_per_trial=None, gpus_per_trial=None, gpu="H100",
                mfu=None, cluster=None, json=False)
    return argparse.Namespace(**{**args, **kw})


def write_cluster(tmp_path, **types) -> str:
    config = {**CLUSTER, "available_node_types": {k: v for k, v in {**CLUSTER["available_node_types"], **types}.items()
                                                  if v is not None}}
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.parametrize("scale", ["tiny", "small", "llama-tiny"])
@pytest.mark.parametrize("tokenizer", ["number", "digit"])
def test_parameter_count_matches_the_built_model(scale, tokenizer):
    model = build_model(ModelSpec(scale=scale), build_tokenizer(tokenizer), max_len=40)
    assert model_shape(ModelSpec(scale=scale), tokenizer, 40).params == sum(p.numel() for p in model.parameters())


def test_flops_and_hours_of_a_tiny_sweep_follow_the_formula(tmp_path):
    sweep = from_dict(SweepSpec, {"name": "hand", "base": {
        "task": {"high": 49}, "format": "direct", "tokenizer": "number", "model": {"scale": "tiny"},
        "train": {"steps": 10, "batch_size": 16}, "eval": {"samples": 2}}, "axes": {"seed": [0, 1]}})
    plan = make_plan(sweep, cluster=write_cluster(tmp_path))
    n = sum(p.numel() for p in build_model(ModelSpec(), build_tokenizer("number"), max_len=7).parameters())
    layers, width, seq, cells = 2, 128, 7, 50 * 50  # every cell: bos, a, +, b, =, answer, eos
    train = 10 * 16 * seq * (6 * n + 12 * layers * width * seq)
    evaluate = (1 + 2) * cells * seq * (2 * n + 4 * layers * width * seq)
    [group] = plan["groups"]
    assert (group["trials"], group["params"], group["seq_len"], group["train_tokens"]) == (2, n, seq, 10 * 16 * seq)
    assert group["train_flops"] == pytest.approx(train) and group["eval_flops"] == pytest.approx(evaluate)
    per_core = CPU_TOKENS_PER_S["tiny"] * (6 * n + 12 * layers * width * seq)  # its benchmark: 7 tokens too
    seconds = (train + evaluate) / per_core + OVERHEAD_S["inline"]
    assert group["hours_per_trial"] * 3600 == pytest.approx(seconds)
    assert plan["totals"]["cpu_core_hours"] == pytest.approx(2 * seconds / 3600) and plan["totals"]["gpu_hours"] == 0
    assert plan["cluster"]["wall_hours"] * 3600 == pytest.approx(seconds)  # two slots, one trial each


def test_smoke_preset_plans_cpu_nodes():
    plan = plan_from_args(plan_args(preset="smoke"))
    assert plan["trials"] == 16 and len(plan["groups"]) == 4
    assert plan["resources"]["gpus_per_trial"] == 0 and plan["totals"]["gpu_hours"] == 0
    totals = plan["totals"]
    assert totals["cpu_core_hours"] == pytest.approx(totals["trial_hours"]) and totals["trial_hours"] > 0
    cluster = plan["cluster"]
    assert (cluster["file"], cluster["node_type"], cluster["nodes"], cluster["concurrency"]) == \
        ("clusters/aws-gpu.yaml", "cpu_worker", 1, 16)


def test_paper_like_gpu_sweep_plans_gpu_nodes(tmp_path):
    axes = ["task.name=[addition]", "split.half_width=[5]", "format=[direct]", "tokenizer=[number]",
            "model.scale=[small]", "data_size=[null]", f"seed={list(range(100))}"]
    args = plan_args(preset="paper", axis=axes, gpus_per_trial=0.25, set=["device=cuda", "train.precision=bf16"],
                     cluster=write_cluster(tmp_path))
    plan = plan_from_args(args)
    [group] = plan["groups"]
    cluster, totals = plan["cluster"], plan["totals"]
    assert (cluster["node_type"], cluster["trials_per_node"], cluster["nodes"], cluster["concurrency"]) == \
        ("gpu", 32, 3, 96)  # 0.25 GPU each: 32 on an 8-GPU node; max_workers 3
    rate = 989e12 * ASSUMED_MFU * 0.25
    train_s = max(group["train_flops"] / rate, group["steps"] * GPU_STEP_FLOOR_S)  # a 3M model: at the floor
    assert train_s == group["steps"] * GPU_STEP_FLOOR_S and group["at_step_floor"]
    assert group["train_step_s"] == pytest.approx(GPU_STEP_FLOOR_S)
    seconds = train_s + group["eval_flops"] / rate + OVERHEAD_S["inline"]
    assert group["hours_per_trial"] * 3600 == pytest.approx(seconds)
    assert totals["gpu_hours"] == pytest.approx(0.25 * totals["trial_hours"])
    assert cluster["wall_hours"] * 3600 == pytest.approx(2 * seconds)  # 100 trials on 96 slots: two rounds
    assert plan["throughput"]["mfu_measured"] is False


def test_yaml_sweep_with_ray_train_workers(tmp_path, capsys):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "ddp", "base": {"model": {"scale": "tiny"}, "device": "cuda", "train": {"steps": 100}},
        "axes": {"seed": [0, 1, 2, 3, 4]},
        "resources": {"backend": "ddp", "num_workers": 2, "cpus_per_trial": 8, "gpus_per_trial": 2}}))
    assert main(["plan", str(spec), "--mfu", "0.05", "--cluster", write_cluster(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "MFU 0.05 per GPU -- MFU given with --mfu" in out and "plus 30 s per trial (ddp" in out
    assert "2 x gpu (96 CPU, 8 GPU; max 3), 4 trials per node -> 5 at once" in out  # 8 one-GPU workers a node


def test_json_output_parses(capsys):
    assert main(["plan", "sweeps/square_grid.py", "--preset", "smoke", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["trials"] == 16 and plan["cluster"]["node_type"] == "cpu_worker"
    assert {"scale", "params", "seq_len", "train_flops", "hours_per_trial"} <= set(plan["groups"][0])


@pytest.mark.parametrize("argv,words", [
    (["nosuch"], "sweep: no shipped sweep or sweep file 'nosuch' "
                 "(allowed: halves, hole_atlas, hole_radius, lema, rfft_length, square_grid, a .yaml"),
    (["square_grid", "--preset", "huge"], "preset: sweep 'square_grid' has no preset 'huge' (allowed: paper, smoke)"),
    (["square_grid", "--cluster", "missing.yaml"], "cluster: cannot read missing.yaml"),
    (["square_grid", "--mfu", "0"], "mfu: 0 is not a fraction of the peak (allowed: 0 < mfu <= 1)"),
    (["square_grid", "--mfu", "1.5"], "mfu: 1.5 is not a fraction"),
    (["square_grid", "--gpu", "V100"], "gpu: unknown GPU 'V100' (allowed: A100, H100, H200, L4)"),
    (["square_grid", "--gpus-per-trial", "1", "--set", "device=cpu"], "device: the sweep gives each trial GPUs"),
    (["square_grid", "--gpus-per-trial", "0", "--set", "device=cuda"], "device: trial addition-direct-number"),
    (["square_grid", "--preset", "smoke", "--cluster", "{gpu_only}"], "cluster: no worker node type of"),
])
def test_bad_input_exits_2_naming_the_field(argv, words, tmp_path, capsys):
    gpu_only = write_cluster(tmp_path, cpu=None)
    assert main(["plan", *[a.replace("{gpu_only}", gpu_only) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert words in err
    if "{gpu_only}" in argv:
        assert "(allowed: gpu: 96 CPU, 8 GPU, up to 3 nodes)" in err


def test_bad_preset_exits_2_from_the_command_line():
    proc = subprocess.run([sys.executable, "-m", "caseray.cli", "plan", "square_grid", "--preset", "huge"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "preset:" in proc.stderr and "paper, smoke" in proc.stderr


def test_plan_never_executes_a_python_file(tmp_path, monkeypatch, capsys):
    """A .py named on the command line is read as the name of a shipped sweep, never run: a file in
    the working directory that would leave a mark when executed leaves none."""
    mark = tmp_path / "executed"
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "evil.py").write_text(f"open({str(mark)!r}, 'w').write('ran')\nPRESETS = {{}}\n")
    (tmp_path / "sweeps" / "square_grid.py").write_text(f"open({str(mark)!r}, 'w').write('ran')\n")
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "sweeps/evil.py"]) == 2
    assert "no shipped sweep or sweep file 'sweeps/evil.py'" in capsys.readouterr().err
    assert main(["plan", "sweeps/square_grid.py", "--preset", "smoke", "--json"]) == 0  # the shipped preset
    plan = json.loads(capsys.readouterr().out)
    assert plan["trials"] == 16 and plan["cluster"] is None  # no clusters/ in this directory
    assert not mark.exists()


def test_bf16_peaks_match_the_mfu_benchmark():
    spec = importlib.util.spec_from_file_location("mfu_bench", ROOT / "benchmarks" / "mfu.py")
    mfu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mfu)
    assert {k: v["bf16"] for k, v in PEAK_FLOPS.items()} == mfu.PEAK_BF16


def test_wall_clock_fills_slots_in_sweep_order():
    assert wall_seconds([3, 1, 1, 1], 2) == 3
    assert wall_seconds([1] * 5, 2) == 3
    assert wall_seconds([2], 10) == 2


def test_reading_a_cluster_needs_no_cost_model(tmp_path):
    """Cluster parsing is its own module: shaping a cluster loads neither torch nor the datasets."""
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(CLUSTER))
    code = ("import sys; from pathlib import Path; from caseray.report.cluster_shape import cluster_shape; "
            "from caseray.sweep.spec import Resources; "
            f"shape = cluster_shape(Path({str(path)!r}), Resources(cpus_per_trial=4), 10); "
            "print(shape['node_type'], shape['nodes'], shape['concurrency'], 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["cpu", "3", "10", "False"], proc.stdout + proc.stderr[-2000:]
