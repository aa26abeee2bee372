"""What Ray costs a sweep, measured side by side in one run.

1. Training throughput of one trial: the bare trial (``run_trial`` in this process) vs the same trial
   inline in a Tune driver vs on a 1-worker Ray Train group (and a 2-worker DDP group for reference).
   Goal: Ray Train >= 0.9x the bare loop.
2. A 12-trial tiny sweep on k slots vs the sum of its trials run one by one without Ray.
   Goal: wall <= 1.2 x (sum / k) + 20 s. Ray's start-up is timed separately.

    python benchmarks/ray_overhead.py            # both parts (~6 minutes on 2 cores)
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("CASERAY_CACHE", tempfile.mkdtemp(prefix="caseray-bench-"))

from caseray.core.specs import from_dict  # noqa: E402
from caseray.data.datasets import load_dataset  # noqa: E402
from caseray.data.tokenizers import build_tokenizer  # noqa: E402
from caseray.sweep.spec import SweepSpec  # noqa: E402
from caseray.trial.run import run_trial


def sweep_spec(root: Path, name: str, base: dict, axes: dict, **resources) -> SweepSpec:
    return from_dict(SweepSpec, {"name": name, "storage_path": str(root / name),
                                 "tracking_uri": f"sqlite:///{root}/mlflow.db", "base": base, "axes": axes,
                                 "resources": resources})


def warm_cache(specs) -> None:
    for spec in specs:
        load_dataset(spec.data_spec(), tokenizer=build_tokenizer(spec.tokenizer))


def throughput(root: Path, steps: int) -> None:
    from caseray.sweep.ray import run_sweep

    base = {"save_model": False, "train": {"steps": steps, "log_every": 100}}
    variants = {
        "inline Tune driver": dict(backend="inline"),
        "Ray Train, 1 worker": dict(backend="ddp", num_workers=1, cpus_per_trial=1),
        "Ray Train DDP, 2 workers (2 CPUs)": dict(backend="ddp", num_workers=2, cpus_per_trial=2),
    }
    spec = sweep_spec(root, "bare", base, {"seed": [0]}).trials()[0]
    warm_cache([spec])
    bare = run_trial(spec, root / "bare").metrics["train/tokens_per_s"]
    print(f"\n1. training throughput, tiny model, direct/number 0-99 grid, {steps} steps of batch 128")
    print(f"   {'bare trial (no Ray), 1 thread':36s} {bare:10,.0f} tokens/s   1.000")
    for i, (label, res) in enumerate(variants.items()):
        (outcome,) = run_sweep(sweep_spec(root, f"v{i}", base, {"seed": [0]}, **res))
        rate = outcome.metrics["train/tokens_per_s"]
        print(f"   {label:36s} {rate:10,.0f} tokens/s   {rate / bare:.3f}")


def sweep_wall(root: Path, slots: int, steps: int) -> None:
    from caseray.sweep.ray import run_sweep

    base = {"task": {"high": 29}, "split": {"center": [15, 15], "half_width": 4}, "save_model": False,
            "train": {"steps": steps, "log_every": 100}}
    axes = {"tokenizer": ["number", "digit"], "seed": [0, 1, 2, 3, 4, 5]}
    specs = sweep_spec(root, "serial", base, axes).trials()
    warm_cache(specs)
    t0 = time.perf_counter()
    for spec in specs:
        run_trial(spec, root / "serial")
    serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    outcomes = run_sweep(sweep_spec(root, "sweep", base, axes))
    wall = time.perf_counter() - t0
    assert all(o.metrics for o in outcomes)
    bound = 1.2 * serial / slots + 20
    print(f"\n2. {len(specs)}-trial sweep (30x30 grid, {steps} steps each) on {slots} slots")
    print(f"   sum of trial times, one by one without Ray: {serial:.1f} s  (ideal on {slots} slots: "
          f"{serial / slots:.1f} s)")
    print(f"   sweep wall on Ray: {wall:.1f} s   goal <= {bound:.1f} s   -> {'met' if wall <= bound else 'NOT met'}"
          f"   (wall / ideal = {wall / (serial / slots):.2f})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["all", "throughput", "sweep"], default="all")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--slots", type=int, default=2, help="CPUs of the embedded Ray (one trial per CPU)")
    args = p.parse_args()
    import ray

    from caseray.sweep.ray import init_ray

    root = Path(tempfile.mkdtemp(prefix="caseray-ray-bench-"))
    t0 = time.perf_counter()
    init_ray(num_cpus=args.slots)
    print(f"Ray start-up (embedded, {args.slots} CPUs): {time.perf_counter() - t0:.1f} s")
    if args.part in ("all", "throughput"):
        throughput(root, args.steps)
    if args.part in ("all", "sweep"):
        sweep_wall(root, args.slots, args.steps // 2)
    ray.shutdown()


if __name__ == "__main__":
    main()
