"""The ``caseray`` command. Bad input exits with code 2 and a message naming the field."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from caseray.errors import SpecError


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dataset")
    g.add_argument("--spec", help="a JSON or YAML file with the dataset spec (flags below override it)")
    g.add_argument("--task", help="addition | base9_addition | mod_addition | linear | chicken_rabbit")
    g.add_argument("--low", type=int, help="smallest operand")
    g.add_argument("--high", type=int, help="largest operand (chicken & rabbit: heads)")
    g.add_argument("--base", type=int)
    g.add_argument("--modulus", type=int)
    g.add_argument("--format", help="direct | scratchpad | rule_following")
    g.add_argument("--tokenizer", help="number[:bound] | digit | hf:<local dir>")
    g.add_argument("--split", dest="kind", help="square | squares | random")
    g.add_argument("--center", type=_ints, help="a0,b0")
    g.add_argument("--half-width", type=int)
    g.add_argument("--squares", help="explicit squares a0,b0,h;a0,b0,h;...")
    g.add_argument("--n-squares", type=int)
    g.add_argument("--test-fraction", type=float)
    g.add_argument("--test-size", type=int)
    g.add_argument("--split-seed", type=int)
    g.add_argument("--data-size", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument("--cache", help="cache folder (default $CASERAY_CACHE or ~/.cache/caseray)")


def load_mapping(path: str) -> dict:
    import yaml

    try:
        text = Path(path).read_text()
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)  # plain data only
    except OSError as err:
        raise SpecError("spec", f"cannot read {path}: {err.strerror}") from None
    except (yaml.YAMLError, ValueError) as err:
        raise SpecError("spec", f"{path} is not a plain YAML/JSON mapping: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise SpecError("spec", f"{path} does not hold a mapping")
    return data


def grid_spec_from_args(args):
    from caseray.data import GridDataSpec
    from caseray.specs import from_dict

    data = load_mapping(args.spec) if args.spec else {}
    task = dict(data.get("task", {}))
    for key in ("low", "high", "base", "modulus"):
        if getattr(args, key) is not None:
            task[key] = getattr(args, key)
    if args.task:
        task["name"] = args.task
    split = dict(data.get("split", {}))
    for key, value in (("kind", args.kind), ("center", args.center), ("half_width", args.half_width),
                       ("n_squares", args.n_squares), ("test_fraction", args.test_fraction),
                       ("test_size", args.test_size), ("seed", args.split_seed)):
        if value is not None:
            split[key] = value
    if args.squares:
        split["squares"] = [_ints(s) for s in args.squares.split(";") if s]
    data.update(task=task, split=split)
    for key in ("format", "tokenizer", "data_size", "seed"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    return from_dict(GridDataSpec, data)


def cmd_data_show(args) -> None:
    from caseray.formats import get_format
    from caseray.splits import make_split
    from caseray.tasks import build_task
    from caseray.tokenizers import build_tokenizer

    spec = grid_spec_from_args(args)
    task, tok = build_task(spec.task), build_tokenizer(spec.tokenizer)
    fmt = get_format(spec.format, task)
    if args.digits:
        if not task.length_ok:
            raise SpecError("task.name", "--digits needs a task with n-digit problems", ["addition", "base9_addition"])
        rng = random.Random(spec.seed)
        lo, hi = (0, task.base) if args.digits == 1 else (task.base ** (args.digits - 1), task.base ** args.digits)
        cells = [(rng.randrange(lo, hi), rng.randrange(lo, hi)) for _ in range(args.n)]
        labels = [f"{args.digits}-digit"] * args.n
    elif args.a is not None or args.b is not None:
        if args.a is None or args.b is None:
            raise SpecError("a/b", "give both --a and --b")
        if not bool(task.valid(args.a, args.b)) or not (task.a_range[0] <= args.a <= task.a_range[1]
                                                         and task.b_range[0] <= args.b <= task.b_range[1]):
            raise SpecError("a/b", f"({args.a}, {args.b}) is not a cell of task {task.name!r}",
                            f"{task.axes[0]} in {list(task.a_range)}, {task.axes[1]} in {list(task.b_range)}")
        cells, labels = [(args.a, args.b)], ["cell"]
    else:
        s = make_split(task, spec.split, spec.data_size, spec.seed)
        rng = random.Random(spec.seed)
        idx = {k: [i for i, v in enumerate(s.split) if v == k] for k in ("train", "test")}
        picks = [("train", i) for i in rng.sample(idx["train"], min(args.n, len(idx["train"])))]
        picks += [("test", i) for i in rng.sample(idx["test"], min(args.n, len(idx["test"])))]
        cells = [(int(s.a[i]), int(s.b[i])) for _, i in picks]
        labels = [k for k, _ in picks]
    for (a, b), label in zip(cells, labels):
        prompt, target = fmt.prompt(task, a, b), fmt.target(task, a, b)
        p_ids, t_ids = tok.encode(prompt), tok.encode(target)
        print(f"--- {task.name} / {fmt.name} / {tok.spec}: cell ({a}, {b}) [{label}]")
        print(f"prompt ({len(p_ids)} tokens):\n{prompt}")
        print(f"target ({len(t_ids)} tokens + eos):\n{target}")
        if args.tokens:
            print("tokens: " + "|".join(tok.decode([i]) for i in p_ids + t_ids))


def cmd_data_split(args) -> None:
    from caseray.plots import plot_split
    from caseray.splits import make_split
    from caseray.tasks import build_task

    spec = grid_spec_from_args(args)
    task = build_task(spec.task)
    s = make_split(task, spec.split, spec.data_size, spec.seed)
    counts = {k: int((s.split == k).sum()) for k in ("train", "test", "unused")}
    print(f"{task.name}: {len(s.a)} cells; " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for i, (a0, b0, h) in enumerate(s.squares):
        print(f"square {i}: centre ({a0}, {b0}), half-width {h}")
    if args.plot:
        path = plot_split(task, s.a, s.b, s.split, s.squares, args.plot,
                          title=f"{task.name}: {spec.split.kind} split")
        print(f"plot: {path}")


def cmd_data_build(args) -> None:
    from caseray.data import dataset_path, load_dataset

    spec = grid_spec_from_args(args)
    table = load_dataset(spec, args.cache)
    print(f"{table.num_rows} rows -> {dataset_path(spec, args.cache)}")


def apply_sets(data: dict, sets: list[str]) -> dict:
    """``key.sub=value`` overrides (values read as YAML: 3, 1e-3, true, [50, 50], addition)."""
    import yaml

    from caseray.sweep import set_dotted

    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise SpecError("--set", f"expected key=value, got {item!r}")
        set_dotted(data, key, yaml.safe_load(value))
    return data


def cmd_trial(args) -> None:
    from caseray.specs import from_dict
    from caseray.trial import run_trial
    from caseray.trial_spec import TrialSpec

    spec = from_dict(TrialSpec, apply_sets(load_mapping(args.spec) if args.spec else {}, args.set or []))
    print(f"trial {spec.name}")

    def report(step, figures):
        if "train/loss" in figures:
            print(f"  step {step}: loss {figures['train/loss']:.4f}, lr {figures['train/lr']:.2e}, "
                  f"{figures['train/tokens_per_s']:.0f} tokens/s", flush=True)

    result = run_trial(spec, args.out, on_report=report)
    m = result.metrics
    line = f"train acc {m['train_acc']:.3f}, test acc {m['test_acc']:.3f}"
    if "square_acc" in m:
        line += f", square {m['square_acc']:.3f}, centre {m['centre_acc']:.3f}, border {m['border_acc']:.3f}"
    print(line)
    print(f"outputs: {result.out_dir}  (cells.parquet, metrics.json, holemap.png)")


def cmd_sweep_run(args) -> None:
    from caseray.sweep_cli import build_sweep, run

    code = run(build_sweep(load_mapping(args.file), args), args)
    if code:
        sys.exit(code)


def cmd_plan(args) -> None:
    from caseray.plan_cli import format_plan, plan_from_args

    plan = plan_from_args(args)
    print(json.dumps(plan, indent=2) if args.json else format_plan(plan))


def cmd_ui(args) -> None:
    """``mlflow ui`` on the given store; an argument list, never a shell string."""
    import os
    import shutil

    from caseray.sweep import TRACKING_SCHEMES, check_uri
    from caseray.tracking import absolute_uri

    check_uri("tracking_uri", args.tracking_uri, TRACKING_SCHEMES)
    uri = absolute_uri(args.tracking_uri)
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which("mlflow")
    if mlflow is None:
        raise SpecError("ui", "the mlflow command is not installed beside this Python or on PATH")
    print(f"MLflow UI on http://{args.host}:{args.port} ({uri})", flush=True)
    os.execv(mlflow, [mlflow, "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="caseray", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="datasets: show examples, draw splits, build the cache")
    dsub = data.add_subparsers(dest="data_command", required=True)
    show = dsub.add_parser("show", help="print examples (prompt, target, token counts)")
    _add_data_args(show)
    show.add_argument("-n", type=int, default=2, help="examples per split")
    show.add_argument("--a", type=int, help="show this cell (with --b)")
    show.add_argument("--b", type=int)
    show.add_argument("--digits", type=int, help="show random n-digit problems instead")
    show.add_argument("--tokens", action="store_true", help="also print the tokens")
    show.set_defaults(func=cmd_data_show)
    split = dsub.add_parser("split", help="count a split's cells and draw it (--plot out.png)")
    _add_data_args(split)
    split.add_argument("--plot", help="write a PNG of the grid")
    split.set_defaults(func=cmd_data_split)
    build = dsub.add_parser("build", help="build and cache a dataset; print its path")
    _add_data_args(build)
    build.set_defaults(func=cmd_data_build)
    trial = sub.add_parser("trial", help="run one trial (train, evaluate every cell, hole map); no Ray")
    trial.add_argument("--spec", help="a JSON or YAML trial spec")
    trial.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a field, e.g. --set tokenizer=digit --set split.half_width=5")
    trial.add_argument("--out", default="caseray_out/trials", help="results folder")
    trial.set_defaults(func=cmd_trial)
    sweep = sub.add_parser("sweep", help="sweeps on Ray")
    ssub = sweep.add_subparsers(dest="sweep_command", required=True)
    srun = ssub.add_parser("run", help="run a sweep from a YAML file (name, base, axes, resources, ...)")
    srun.add_argument("file")
    from caseray.sweep_cli import add_sweep_args

    add_sweep_args(srun)
    srun.set_defaults(func=cmd_sweep_run)
    plan = sub.add_parser("plan", help="a sweep's trials, FLOPs, GPU/CPU hours and cluster shape; runs nothing")
    from caseray.plan_cli import add_plan_args

    add_plan_args(plan)
    plan.set_defaults(func=cmd_plan)
    report = sub.add_parser("report", help="a sweep's report: hole-map grid, curves, tables, step coverage")
    from caseray.report_cli import add_report_args, cmd_report

    add_report_args(report)
    report.set_defaults(func=cmd_report)
    reproduce = sub.add_parser("reproduce", help="run the studies' claims as sweeps; print reproduced / not")
    from caseray.report_cli import add_reproduce_args, cmd_reproduce

    add_reproduce_args(reproduce)
    reproduce.set_defaults(func=cmd_reproduce)
    ui = sub.add_parser("ui", help="open the MLflow UI on the sweeps' tracking store (127.0.0.1 by default)")
    ui.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SpecError as err:
        print(f"caseray: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
