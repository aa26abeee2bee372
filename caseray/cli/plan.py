"""``caseray plan``'s command line: which sweep (a shipped sweep's preset, ``caseray.presets``, or a
sweep file), the plan as a table or JSON. The cost model is ``caseray.report.plan``."""

from __future__ import annotations

import argparse
import json

from caseray.cli.common import Command
from caseray.cli.sweep import build_sweep, sweep_data
from caseray.core.tables import format_table
from caseray.report.costs import ASSUMED_MFU, PEAK_FLOPS
from caseray.report.plan import make_plan


def _si(x: float) -> str:
    for unit, size in (("E", 1e18), ("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{x / size:.3g}{unit}"
    return f"{x:.3g}"


def _hours(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _duration(hours: float) -> str:
    s = hours * 3600
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{hours:.1f} h"


def format_plan(plan: dict) -> str:
    res, rate, tot, cl = plan["resources"], plan["throughput"], plan["totals"], plan["cluster"]
    on_gpu = res["gpus_per_trial"] > 0
    lines = [f"plan for sweep {plan['sweep']}: {plan['trials']} trials; each {res['cpus_per_trial']:g} CPU, "
             f"{res['gpus_per_trial']:g} GPU, {res['num_workers']} worker(s), backend {res['backend']}"]
    if on_gpu:
        how = ("given with --mfu" if rate["mfu_measured"]
               else "assumed: gpt2-124m measured 0.27-0.31 on one H200 (benchmarks/RESULTS.md)")
        lines.append(f"throughput: {rate['gpu']} peak (bf16 {_si(rate['gpu_peak_flops']['bf16'])}FLOP/s, fp32 "
                     f"{_si(rate['gpu_peak_flops']['fp32'])}FLOP/s) x MFU {rate['mfu']:.2f} per GPU -- MFU {how}; "
                     f"a training step takes at least {rate['gpu_step_floor_s'] * 1e3:g} ms (measured: tiny models "
                     "are bound by kernel launches)")
    else:
        per_core = ", ".join(f"{k} {_si(v)}" for k, v in rate["cpu_flops_per_core"].items())
        lines.append(f"throughput: FLOP/s per core measured on 1 thread ({per_core}; benchmarks/RESULTS.md), "
                     "the nearest scale's, assumed linear in cores")
    lines.append(f"plus {rate['overhead_s_per_trial']:g} s per trial ({res['backend']}, RESULTS.md \"What Ray costs "
                 "a sweep\"); FLOPs: 6N + 12LdT per training token, 2N + 4LdT per evaluated token\n")
    head = ("scale", "task", "format", "tokenizer", "trials", "params", "seq", "steps x batch", "tokens/trial",
            "FLOPs/trial", "time/trial")
    rows = [(g["scale"], g["task"], g["format"], g["tokenizer"], str(g["trials"]), _si(g["params"]),
                       str(g["seq_len"]), f"{g['steps']} x {g['batch']}", _si(g["train_tokens"]),
                       f"{g['train_flops'] + g['eval_flops']:.2e}", _duration(g["hours_per_trial"]))
                      for g in plan["groups"]]
    lines.append(format_table(head, rows, right=range(4, len(head))))
    lines.append(f"\ntotal: {tot['train_flops'] + tot['eval_flops']:.3e} FLOPs (train {tot['train_flops']:.2e}, "
                 f"eval {tot['eval_flops']:.2e}); {_hours(tot['trial_hours'])} trial-hours = "
                 f"{_hours(tot['gpu_hours'])} GPU-hours, {_hours(tot['cpu_core_hours'])} CPU-core-hours")
    if cl is None:
        lines.append("cluster: none planned (no clusters/aws-gpu.yaml here; pass --cluster <launcher YAML>)")
    else:
        lines.append(f"cluster {cl['file']}: {cl['nodes']} x {cl['node_type']} ({cl['node_cpus']:g} CPU, "
                     f"{cl['node_gpus']:g} GPU; max {cl['max_nodes']}), {cl['trials_per_node']:g} trials per node "
                     f"-> {cl['concurrency']} at once; wall-clock ~{_duration(cl['wall_hours'])} (trials start in "
                     "sweep order as slots free up; node start-up not included)")
    floored = [g for g in plan["groups"] if g["at_step_floor"]]
    if on_gpu and floored:
        lines.append(f"note: {sum(g['trials'] for g in floored)} of {plan['trials']} trials are timed at the "
                     f"{rate['gpu_step_floor_s'] * 1e3:g} ms step floor, not by FLOPs (launch-bound)")
    return "\n".join(lines)



def add_plan_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep",
                   help="a shipped sweep (square_grid, lema, rfft_length; or its launcher's path) or a YAML file")
    p.add_argument("--preset", help="the shipped sweep's preset (default paper)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a base trial field")
    p.add_argument("--axis", action="append", default=[], metavar="KEY=[V1,V2]", help="replace or add an axis")
    p.add_argument("--cpus-per-trial", type=float)
    p.add_argument("--gpus-per-trial", type=float, help="GPUs per trial instead of the preset's (0: plan on CPUs)")
    p.add_argument("--gpu", default="H100", help=f"GPU whose peak FLOP/s to use: {', '.join(PEAK_FLOPS)}")
    p.add_argument("--mfu", type=float,
                   help=f"GPU model FLOPs utilisation (default {ASSUMED_MFU}: gpt2-124m measured 0.27-0.31 on an H200)")
    p.add_argument("--cluster", help="Ray cluster launcher YAML (default clusters/aws-gpu.yaml)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")


def plan_from_args(args) -> dict:
    data = dict(sweep_data(args.sweep, args.preset, default_preset="paper"))
    sweep_args = argparse.Namespace(set=args.set, axis=args.axis, storage=None, tracking_uri=None,
                                    cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial)
    return make_plan(build_sweep(data, sweep_args), args.gpu, args.mfu, args.cluster)


def cmd_plan(args) -> None:
    plan = plan_from_args(args)
    print(json.dumps(plan, indent=2) if args.json else format_plan(plan))


COMMAND = Command("plan", "a sweep's trials, FLOPs, GPU/CPU hours and cluster shape; runs nothing", add_plan_args,
                  cmd_plan, ("caseray plan square_grid --preset paper --gpu H100",
                             "caseray plan examples/sweep.yaml --json",
                             "caseray plan hole_radius --preset full --cluster clusters/gcp-gpu.yaml"))
