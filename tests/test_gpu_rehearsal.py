"""benchmarks/gpu_rehearsal.py cannot rot: its dry mode (every step, on the CPU, at tiny sizes) runs
here; a failed or unstarted step is named and fails the command."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_rehearsal.py"


def rehearse(out: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    return proc, json.loads((out / "rehearsal.json").read_text())


@pytest.mark.slow
def test_every_step_runs_dry_on_the_cpu(tmp_path):
    proc, results = rehearse(tmp_path, "--dry")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(results) == ["env", "gpu_tests", "mfu", "deepspeed_lora", "fractional", "eval"]
    assert all(r["ok"] for r in results.values()), results
    f = {name: r["figures"] for name, r in results.items()}
    assert f["env"]["cuda_available"] is False and f["env"]["ray"][0].isdigit()
    assert f["gpu_tests"]["skipped"] == 3 and f["gpu_tests"]["passed"] == 0  # no GPU: collected, skipped
    assert f["mfu"]["eager"]["tokens_per_s"] > 0 and f["mfu"]["eager"]["mfu"] is None  # no peak on a CPU
    ds = f["deepspeed_lora"]
    assert ds["mlflow_metrics"] > 10 and ds["ray_train_checkpoints"] >= 1 and ds["final_loss"] > 0
    assert f["fractional"]["trials"] == 4 and f["fractional"]["at_once"] >= 1
    assert all(g["identical"] for g in f["eval"]["grid"]) and f["eval"]["long_traces"]
    table = (tmp_path / "rehearsal.md").read_text()
    assert "dry: CPU" in table and table.count("| yes |") == 6
    assert "===== deepspeed_lora" in (tmp_path / "rehearsal.log").read_text()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is there: the real rehearsal would run")
def test_without_a_gpu_the_real_rehearsal_fails_at_env_and_says_why(tmp_path):
    proc, results = rehearse(tmp_path, "--only", "env")
    assert proc.returncode == 1
    assert not results["env"]["ok"] and "no CUDA GPU is visible" in results["env"]["error"]
    assert "failed: env" in proc.stdout


def test_steps_past_the_budget_are_not_started_and_fail_by_name(tmp_path):
    proc, results = rehearse(tmp_path, "--dry", "--only", "mfu", "eval", "--budget", "0")
    assert proc.returncode == 1 and "failed: mfu, eval" in proc.stdout
    assert all("not started" in r["error"] for r in results.values())
