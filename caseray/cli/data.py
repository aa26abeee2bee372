"""``caseray data show | split | build``: look at a dataset's examples, draw its split, build its cache."""

from __future__ import annotations

import argparse
import random

from caseray.cli.common import Command, Group, load_mapping
from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.datasets import GridDataSpec, dataset_path, load_dataset
from caseray.data.formats import get_format
from caseray.data.plots import plot_split
from caseray.data.splits import make_split
from caseray.data.tasks import build_task
from caseray.data.tokenizers import build_tokenizer


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dataset")
    g.add_argument("--spec", help="a JSON or YAML file with the dataset spec (flags below override it)")
    g.add_argument("--task", help="addition | base9_addition | mod_addition | linear | chicken_rabbit | difference")
    g.add_argument("--low", type=int, help="smallest operand")
    g.add_argument("--high", type=int, help="largest operand (chicken & rabbit: heads)")
    g.add_argument("--base", type=int)
    g.add_argument("--modulus", type=int)
    g.add_argument("--offset", type=int, help="difference: added to a - b (default: high)")
    g.add_argument("--format", help="direct | scratchpad | rule_following")
    g.add_argument("--tokenizer", help="number[:bound] | number_roles[:bound] | digit | digit_roles | hf:<local dir>")
    g.add_argument("--split", dest="kind", help="square | squares | random | region (its hold / keep parts: --spec)")
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


def grid_spec_from_args(args):
    data = load_mapping(args.spec) if args.spec else {}
    task = dict(data.get("task", {}))
    for key in ("low", "high", "base", "modulus", "offset"):
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


MAX_SHOWN, MAX_DIGITS = 1000, 200


def cmd_data_show(args) -> None:
    spec = grid_spec_from_args(args)
    if not 0 <= args.n <= MAX_SHOWN:
        raise SpecError("-n", f"{args.n} examples per split", [f"0..{MAX_SHOWN}"])
    if args.digits is not None and not 1 <= args.digits <= MAX_DIGITS:
        raise SpecError("--digits", f"{args.digits} digits", [f"1..{MAX_DIGITS}"])
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
    spec = grid_spec_from_args(args)
    table = load_dataset(spec, args.cache)
    print(f"{table.num_rows} rows -> {dataset_path(spec, args.cache)}")


def add_show_args(p: argparse.ArgumentParser) -> None:
    _add_data_args(p)
    p.add_argument("-n", type=int, default=2, help="examples per split")
    p.add_argument("--a", type=int, help="show this cell (with --b)")
    p.add_argument("--b", type=int)
    p.add_argument("--digits", type=int, help="show random n-digit problems instead")
    p.add_argument("--tokens", action="store_true", help="also print the tokens")


def add_split_args(p: argparse.ArgumentParser) -> None:
    _add_data_args(p)
    p.add_argument("--plot", help="write a PNG of the grid")


GROUP = Group("data", "datasets: show examples, draw splits, build the cache", (
    Command("show", "print examples (prompt, target, token counts)", add_show_args, cmd_data_show, (
        "caseray data show --task addition --format scratchpad -n 2",
        "caseray data show --tokenizer digit --a 17 --b 25 --tokens")),
    Command("split", "count a split's cells and draw it (--plot out.png)", add_split_args, cmd_data_split, (
        "caseray data split --center 50,50 --half-width 10 --plot split.png",
        "caseray data split --split random --test-size 441")),
    Command("build", "build and cache a dataset; print its path", _add_data_args, cmd_data_build, (
        "caseray data build --task linear --format scratchpad --tokenizer digit",
        "caseray data build --split squares --n-squares 3 --seed 1")),
))
