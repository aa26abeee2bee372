"""GPU rehearsal: every GPU path caseray ships, in one command, its figures in one file.

    python benchmarks/gpu_rehearsal.py --out rehearsal/         # a GPU: at most 8 minutes (--budget) on an H200
    python benchmarks/gpu_rehearsal.py --dry --out /tmp/rehe    # the same steps on the CPU at tiny sizes (tested)

Steps, in this order, each in its own process under its own time limit (a failed step is named and
the others still run; a step that would overrun ``--budget`` is not started and counts as failed):

  env             the machine: GPU, memory, versions; a bf16 8192^3 matrix product's TFLOP/s
  gpu_tests       pytest tests/test_gpu.py (ZeRO-2 and bf16 DDP trials, four trials on one GPU)
  mfu             benchmarks/mfu.py: gpt2-124m training steps in bf16, eager and torch.compile
  deepspeed_lora  a Ray Train + DeepSpeed ZeRO-2 trial of a ``path:`` checkpoint with LoRA, logged to MLflow
  fractional      a 4-trial sweep at 0.25 GPU per trial (``device: auto``), on embedded Ray
  eval            teacher-forced vs ``generate()``: the full 100x100 grid, and long rule-following traces

Writes OUT/rehearsal.json (per step: ok, seconds, figures, error), OUT/rehearsal.md (the table that
benchmarks/RESULTS.md quotes) and OUT/rehearsal.log (every step's output). Exit status 1 names the
failed steps. ``--dry`` runs on the CPU whatever the machine has; without it, a machine with no
CUDA GPU fails at ``env``.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STEPS = ["env", "gpu_tests", "mfu", "deepspeed_lora", "fractional", "eval"]
LIMIT_S = {"env": 90, "gpu_tests": 300, "mfu": 200, "deepspeed_lora": 150, "fractional": 120, "eval": 150}


class StepFailed(Exception):
    """A step ran but what it measured is wrong (the message says what)."""


def require(ok: bool, message: str) -> None:
    if not ok:
        raise StepFailed(message)


# ---- the steps (each runs in a child process; returns its figures) ----

def step_env(dry: bool) -> dict:
    import torch

    figures = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
               "cuda_available": torch.cuda.is_available()}
    for name in ("ray", "deepspeed", "mlflow", "transformers", "peft"):
        try:
            figures[name] = __import__(name).__version__
        except Exception as err:  # noqa: BLE001 -- reported, and the step fails below
            figures[name] = f"missing: {type(err).__name__}: {err}"
    missing = [n for n in ("ray", "deepspeed", "mlflow", "transformers", "peft") if figures[n].startswith("missing")]
    require(not missing, f"cannot import {', '.join(missing)}")
    if dry:
        return figures
    require(torch.cuda.is_available(), "no CUDA GPU is visible (run with --dry to rehearse on the CPU)")
    props = torch.cuda.get_device_properties(0)
    figures.update(gpu=props.name, gpu_count=torch.cuda.device_count(), memory_gib=round(props.total_memory / 2**30, 1),
                   multiprocessors=props.multi_processor_count, bf16=torch.cuda.is_bf16_supported())
    a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        a @ b
    end.record()
    torch.cuda.synchronize()
    figures["matmul_bf16_tflops"] = round(10 * 2 * 8192**3 / (start.elapsed_time(end) / 1e3) / 1e12, 1)
    return figures


def step_gpu_tests(dry: bool) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-rs", "--durations=0", "tests/test_gpu.py"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:  # passed on as it comes, so a step cut at its limit still shows what passed
        print(line, end="", flush=True)
        lines.append(line)
    proc.wait()
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error)", last)}
    counts = {word: counts.get(word, 0) for word in ("passed", "failed", "skipped", "error")}
    figures = {"summary": last, **counts}
    if dry:  # no GPU: every GPU test collects and skips
        require(counts["skipped"] >= 3 and counts["failed"] == counts["error"] == 0, f"expected skips: {last}")
    else:
        require(proc.returncode == 0 and counts["passed"] >= 3 and counts["skipped"] == 0, f"GPU tests: {last}")
    return figures


def step_mfu(dry: bool) -> dict:
    sys.path.insert(0, str(HERE))
    from mfu import measure

    if dry:
        return {"eager": measure("tiny", batch_size=2, seq_len=32, steps=2, warmup=1, device="cpu")}
    eager = measure("gpt2-124m", batch_size=16, seq_len=1024, steps=30, warmup=10)
    compiled = measure("gpt2-124m", batch_size=16, seq_len=1024, steps=30, warmup=10, compile=True)
    require(eager["mfu"] > 0 and compiled["mfu"] > 0, "no MFU measured")
    return {"eager": eager, "compiled": compiled}


def tiny_sweep(tmp: Path, name: str, base: dict, axes: dict, resources: dict):
    from caseray.core.specs import from_dict
    from caseray.sweep.spec import SweepSpec

    return from_dict(SweepSpec, {"name": name, "storage_path": str(tmp / "out"),
                                 "tracking_uri": f"sqlite:///{tmp}/mlflow.db", "base": base, "axes": axes,
                                 "resources": resources})


def step_deepspeed_lora(dry: bool) -> dict:
    """A user's own checkpoint (GPT-2 124M's shape, random weights, its BPE tokenizer) fine-tuned with
    LoRA on a Ray Train worker under DeepSpeed ZeRO-2, in bf16 on the GPU, logged to MLflow."""
    import tempfile

    import ray

    sys.path.insert(0, str(ROOT / "tests"))
    from caseray.sweep.ray import init_ray, run_sweep
    from caseray.sweep.tracking import Tracker
    from helpers import save_tiny_checkpoint

    tmp = Path(tempfile.mkdtemp(prefix="rehearsal-ds-"))
    ck = tmp / "ck"
    shape = dict(n_embd=64, n_layer=2, n_head=2) if dry else dict(n_embd=768, n_layer=12, n_head=12)
    save_tiny_checkpoint(ck, **shape)
    base = {"task": {"high": 19 if dry else 29}, "split": {"center": [10, 10] if dry else [15, 15], "half_width": 3},
            "tokenizer": f"hf:{ck}", "model": {"scale": f"path:{ck}", "lora": {"rank": 8, "alpha": 16}},
            "device": "cpu" if dry else "cuda", "save_model": dry,
            "train": {"steps": 20 if dry else 100, "batch_size": 32 if dry else 128, "lr": 1e-3, "log_every": 10,
                      "checkpoint_every": 10 if dry else 50, "precision": "fp32" if dry else "bf16"}}
    resources = {"backend": "deepspeed", "zero_stage": 2, "num_workers": 1, "cpus_per_trial": 1,
                 "gpus_per_trial": 0 if dry else 1}
    sweep = tiny_sweep(tmp, "rehearsal-ds-lora", base, {"seed": [0]}, resources)
    init_ray(num_cpus=2 if dry else 4)
    t0 = time.perf_counter()
    (outcome,) = run_sweep(sweep)
    wall = time.perf_counter() - t0
    ray.shutdown()
    require(outcome.error is None, f"the trial failed: {outcome.error}")
    m = outcome.metrics
    tracker = Tracker(sweep.tracking_uri)
    children = tracker.children(tracker.parent_of(sweep.id))
    require(len(children) == 1, f"{len(children)} MLflow child runs, expected 1")
    run = children[0]
    require(run.info.status == "FINISHED" and "test_acc" in run.data.metrics,
            f"MLflow run {run.info.status}, metrics {sorted(run.data.metrics)[:8]}")
    ckpts = list((tmp / "out").glob(f"*/train/{outcome.spec.name}/step-*"))
    require(ckpts, "no Ray Train checkpoint was reported")
    return {"checkpoint": shape, "n_params": m["n_params"], "wall_s": round(wall, 1),
            "train_seconds": round(m["train/train_seconds"], 1), "tokens_per_s": round(m["train/tokens_per_s"]),
            "final_loss": round(m["train/final_loss"], 4), "train_acc": m["train_acc"], "test_acc": m["test_acc"],
            "mlflow_metrics": len(run.data.metrics),
            "ray_train_checkpoints": len(ckpts)}


def step_fractional(dry: bool) -> dict:
    """Four tiny inline trials at 0.25 GPU each (device auto): they run at once on one GPU."""
    import tempfile

    import ray

    from caseray.sweep.ray import concurrent_trials, init_ray, run_sweep

    tmp = Path(tempfile.mkdtemp(prefix="rehearsal-frac-"))
    base = {"task": {"high": 29}, "split": {"center": [15, 15], "half_width": 4}, "tokenizer": "digit",
            "device": "auto", "save_model": False,
            "train": {"steps": 30 if dry else 600, "batch_size": 128, "log_every": 100,
                      "precision": "fp32" if dry else "bf16"}}
    resources = {"gpus_per_trial": 0 if dry else 0.25, "cpus_per_trial": 1}
    sweep = tiny_sweep(tmp, "rehearsal-fractional", base, {"seed": [0, 1, 2, 3]}, resources)
    init_ray(num_cpus=2 if dry else 4)
    at_once = concurrent_trials(ray.cluster_resources(), sweep.resources, 4)
    t0 = time.perf_counter()
    outcomes = run_sweep(sweep)
    wall = time.perf_counter() - t0
    ray.shutdown()
    errors = [o.error for o in outcomes if o.error is not None]
    require(not errors, f"trials failed: {errors}")
    train_s = [o.metrics["train/train_seconds"] for o in outcomes]
    accs = [o.metrics["train_acc"] for o in outcomes]
    if not dry:
        require(at_once == 4, f"{at_once} trials at once on one GPU, expected 4")
        require(min(accs) > 0.9, f"train accuracies {accs}: a trial did not learn")
    return {"trials": len(outcomes), "at_once": at_once, "wall_s": round(wall, 1),
            "train_seconds": [round(s, 1) for s in train_s], "sum_train_over_wall": round(sum(train_s) / wall, 2),
            "tokens_per_s": [round(o.metrics["train/tokens_per_s"]) for o in outcomes], "train_acc": accs}


def step_eval(dry: bool) -> dict:
    sys.path.insert(0, str(HERE))
    from eval_teacher_forced import compare
    from long_trace_eval import main as long_traces

    device = "cpu" if dry else "cuda"
    grids = []
    for fmt, tokenizer in [("direct", "number")]:
        args = argparse.Namespace(format=fmt, tokenizer=tokenizer, threads=1, steps=20 if dry else 300,
                                  batch_size=1024, gen_batch_size=None)
        grids.append(compare(args, device))
        print(json.dumps(grids[-1]), flush=True)  # shown even if the step is cut at its limit
    traces = long_traces(["--quick", "--device", device] if dry else
                         ["--digits", "5", "10", "--rows", "32", "--device", device])
    require(all(g["identical"] for g in grids), f"grid evaluation differs: {grids}")
    require(traces["identical"], "long-trace evaluation differs between teacher forcing and generate()")
    return {"grid": grids, "long_traces": [{k: g[k] for k in ("digits", "rows", "mean_trace_tokens", "tf_s", "gen_s",
                                                               "ratio", "identical")} for g in traces["groups"]]}


# ---- the orchestrator ----

def run_step(name: str, dry: bool, limit_s: float, log) -> dict:
    """``name`` in a child process under ``limit_s``: {ok, seconds, figures | error}."""
    record = Path(os.environ.get("TMPDIR", "/tmp")) / f"rehearsal-{os.getpid()}-{name}.json"
    record.unlink(missing_ok=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--step", name, "--record", str(record)]
    cmd += ["--dry"] if dry else []
    t0 = time.perf_counter()
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""} if dry else None  # dry: the CPU, even on a GPU machine
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)  # its own process group: a step cut short leaves nothing running
    try:
        output, _ = proc.communicate(timeout=limit_s)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # a process outside the group still holds the pipe
            output = ""
        rc = None
    _kill_group(proc.pid)  # whatever the step left running (a Ray it started) ends with it
    seconds = round(time.perf_counter() - t0, 1)
    log.write(f"\n===== {name} ({seconds} s, exit {rc}) =====\n{output[-20000:]}\n")
    log.flush()
    if rc is None:
        return {"ok": False, "seconds": seconds, "error": f"ran past its {limit_s:.0f} s limit"}
    if rc != 0 or not record.exists():
        lines = [line for line in output.strip().splitlines() if line.strip()]
        return {"ok": False, "seconds": seconds, "error": lines[-1] if lines else f"exit {rc}"}
    return {"ok": True, "seconds": seconds, "figures": json.loads(record.read_text())}


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # already gone
        pass


def markdown(results: dict, dry: bool) -> str:
    lines = [f"GPU rehearsal ({'dry: CPU, tiny sizes' if dry else 'GPU'}), {time.strftime('%Y-%m-%d')}", "",
             "| step | ok | seconds | figures |", "|---|---|---:|---|"]
    for name, r in results.items():
        shown = json.dumps(r.get("figures", r.get("error")), separators=(", ", ": "))
        lines.append(f"| {name} | {'yes' if r['ok'] else '**no**'} | {r['seconds']} | {shown} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("rehearsal"), help="where the figures and the log go")
    p.add_argument("--dry", action="store_true", help="the same steps on the CPU at tiny sizes")
    p.add_argument("--only", nargs="+", choices=STEPS, help="run these steps alone")
    p.add_argument("--budget", type=float, default=480, help="seconds for all steps; later steps are not started")
    p.add_argument("--step", choices=STEPS, help=argparse.SUPPRESS)  # child: run one step
    p.add_argument("--record", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.step:  # the child: figures to --record, a StepFailed message as the last line
        try:
            figures = globals()[f"step_{args.step}"](args.dry)
        except StepFailed as err:
            print(f"{args.step} failed: {err}", file=sys.stderr)
            return 1
        args.record.write_text(json.dumps(figures, default=str))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    results, started = {}, time.perf_counter()
    with open(args.out / "rehearsal.log", "w") as log:
        for name in args.only or STEPS:
            left = args.budget - (time.perf_counter() - started)
            if left < 20:
                results[name] = {"ok": False, "seconds": 0, "error": f"not started: {args.budget:.0f} s budget spent"}
            else:
                results[name] = run_step(name, args.dry, min(LIMIT_S[name] * (2 if args.dry else 1), left), log)
            status = "ok" if results[name]["ok"] else f"FAILED: {results[name]['error']}"
            print(f"{name:15s} {results[name]['seconds']:7.1f} s  {status}", flush=True)
            (args.out / "rehearsal.json").write_text(json.dumps(results, indent=1, default=str))
    (args.out / "rehearsal.md").write_text(markdown(results, args.dry))
    failed = [n for n, r in results.items() if not r["ok"]]
    print(f"\nrehearsal: {len(results) - len(failed)} of {len(results)} steps ok"
          + (f"; failed: {', '.join(failed)}" if failed else "") + f"  ({args.out / 'rehearsal.json'})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
