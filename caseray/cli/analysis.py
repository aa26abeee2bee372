"""``caseray analyze curves | hole-maps | step-coverage``: one view of a finished sweep at a time, read
from its results folder or MLflow; ``id-spacing | rescore | retest | probe``: instruments on one trial's
saved model; ``misses``: where a length trial's wrong additions go wrong, from its cells alone
(``analysis/*.py`` launch the same commands)."""

from __future__ import annotations

import argparse
import math
from collections import Counter
from pathlib import Path

from caseray.cli.common import Command, Group, Parser, script, tracking_uri
from caseray.cli.report import add_source_args
from caseray.core.errors import SpecError
from caseray.core.fields import floats
from caseray.core.tables import format_table
from caseray.report import figures
from caseray.report.aggregate import markdown_table, varying_axes, write_csv
from caseray.report.build import coverage_rows
from caseray.report.sweep_report import load_records, parse_axes


def records_of(args):
    return load_records(args.sweep, args.storage, tracking_uri(args), args.source)[1]


def add_curves_args(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument("--by", default="", help="comma-separated axes; default: every axis of the sweep")
    p.add_argument("--out-dir", default=".")


def cmd_curves(args) -> None:
    """signature.png (accuracy vs ring and vs distance to training), square_size.png (vs h) and
    length.png (vs digits), one line per group of ``--by`` (mean ± std over the rest, e.g. seeds)."""
    records = records_of(args)
    by = parse_axes(args.by, "by", records) if args.by else varying_axes(records)
    out = Path(args.out_dir)
    sizes = [a for a in by if a not in ("split", "split.half_width")]
    for path in (figures.signature(records, by, out / "signature.png"),
                 figures.square_size(records, sizes, out / "square_size.png"),
                 figures.length_curves(records, by, out / "length.png")):
        if path is not None:
            print(path)


def add_hole_map_args(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument("--rows", default="", help="axes down the page (comma-separated, e.g. task.name,split)")
    p.add_argument("--cols", default="", help="axes across the page")
    p.add_argument("--per-seed", action="store_true")
    p.add_argument("--out", default="holemaps.png")


def cmd_hole_maps(args) -> None:
    records = records_of(args)
    for path in figures.hole_map_grid(records, parse_axes(args.rows, "rows", records),
                                      parse_axes(args.cols, "cols", records), args.out, args.per_seed):
        print(path)


def add_coverage_args(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument("--csv", help="also write the table as CSV")


def cmd_step_coverage(args) -> None:
    """Per grid trial, each coverage predictor -- ``step+column`` (a step never seen in training in
    its column), ``step`` (a step never seen in any column), ``answer_token`` (an answer token no
    training answer has): test cells predicted to fail, precision and recall against the cells that
    failed, and what is most often missing."""
    rows = coverage_rows(records_of(args))
    print(markdown_table(rows) if rows else "no grid trials in this sweep")
    if args.csv and rows:
        print(write_csv(rows, args.csv))


CURVES = Command("curves", "accuracy curves by ring, distance, square size and length", add_curves_args, cmd_curves,
                 ("caseray analyze curves square-smoke --by tokenizer",
                  "caseray analyze curves rfft-local --out-dir figs"))
HOLE_MAPS = Command("hole-maps", "hole maps in panels by chosen row and column axes", add_hole_map_args,
                    cmd_hole_maps, ("caseray analyze hole-maps square-smoke --rows tokenizer --cols seed",
                                    "caseray analyze hole-maps square-smoke --rows task.name,split --out maps.png"))
STEP_COVERAGE = Command("step-coverage", "the coverage predictors per trial (step+column, step, answer_token): "
                        "precision, recall, what is missing", add_coverage_args, cmd_step_coverage,
                        ("caseray analyze step-coverage square-smoke",
                         "caseray analyze step-coverage square-smoke --csv coverage.csv"))


def add_id_spacing_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("trial", help="a finished coupled-id trial's folder (saved with save_model: true)")
    p.add_argument("--maps", default="even,random,gap1,gap2,gap3", help="comma-separated id maps: even, "
                   "random, gapG, randR")
    p.add_argument("--digits", default="5,10,20,30", help="comma-separated problem lengths")
    p.add_argument("--attention", default="softmax", choices=["softmax", "logn"], help="logn: the model "
                   "scored with test-time logn attention at its trial's base (as rescore does)")
    p.add_argument("--per-place", action="store_true", help="also print where in the answer the wrong "
                   "digits sit: error rate per tenth of the answer, least significant first")


def int_list(text: str, field: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise SpecError(field, f"{text!r} is not a list of lengths", "comma-separated integers >= 1, e.g. 5,10,20")
    return values


def cmd_id_spacing(args) -> None:
    """Exact match per length (rows) and id map (columns) of the trial's saved model on fresh
    mixed-length additions (``caseray.trial.id_spacing``); ``--per-place``: where the errors sit."""
    from caseray.trial import id_spacing
    from caseray.trial.rescore import saved_trial

    folder, spec = saved_trial(args.trial)
    maps, lengths = [id_spacing.check_map(m) for m in args.maps.split(",")], int_list(args.digits, "digits")
    if not spec.positions().coupled or spec.format != "direct" or spec.task.name != "addition":
        raise SpecError("trial", f"{spec.name} is not a coupled-id direct addition trial (base 10)",
                        "an addition trial with model.positions: coupled / coupled_random / coupled_scales")
    if spec.positions().rule != "answer":  # (the probe writes plain reversed answers with plain places)
        raise SpecError("trial", f"{spec.name} places its text by the {spec.positions().rule!r} rule; the probe "
                        "writes plain reversed answers", "a trial without format_options.carries or model.mark_ends")
    from caseray.data.tokenizers import load_tokenizer
    from caseray.train.models import load_trained

    model, tokenizer = load_trained(spec.model, folder / "model").eval(), load_tokenizer(folder / "tokenizer")
    if args.attention == "logn":
        from caseray.trial.rescore import with_test_time_logn

        with_test_time_logn(folder, spec, model, tokenizer)
    print("digits " + " ".join(f"{m:>8}" for m in maps))
    places = []
    for n in lengths:
        scores = {m: id_spacing.spacing_scores(model, tokenizer, n, m, spec.model.coupled_ids) for m in maps}
        print(f"{n:>6} " + " ".join(f"{scores[m][0]:8.2f}" for m in maps), flush=True)
        places += [(n, m, id_spacing.by_tenths(scores[m][1])) for m in maps]
    if args.per_place:
        print("\nwrong at each tenth of the answer (least significant first):")
        for n, m, tenths in places:
            print(f"{n:>6} {m:>8}  " + " ".join(f"{e:.2f}" for e in tenths))


def add_rescore_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("trial", help="a finished trial's folder (saved with save_model: true)")
    p.add_argument("--attention", required=True, choices=["logn"], help="the test-time change")
    p.add_argument("--out", default="caseray_out/rescored", help="results folder")


def cmd_rescore(args) -> None:
    """The trial's saved model through the trial's own evaluation with ``model.attention`` changed."""
    from caseray.core.paths import check_output_folder
    from caseray.trial.rescore import rescore

    check_output_folder(args.out, "--out")
    out, metrics = rescore(args.trial, args.attention, args.out)  # (a bad trial is refused before any write)
    print(f"test exact {metrics['test_acc']:.3f}: {out} (cells.parquet, metrics.json)")


def add_retest_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("trial", help="a finished length trial's folder (saved with save_model: true)")
    p.add_argument("--digits", required=True, help="comma-separated test lengths, e.g. 50,100")
    p.add_argument("--per-length", type=int, default=100, help="fresh problems per family and length (default 100)")
    p.add_argument("--data-seed", type=int, default=1000, help="the fresh problems' seed; not the trial's own "
                   "(default 1000)")
    p.add_argument("--slope-scale", type=float, default=1.0, help="a diagnostic: an id_alibi / place_alibi "
                   "model's slopes times this at test time only (default 1: as trained)")
    p.add_argument("--out", default="caseray_out/retested", help="results folder")


def cmd_retest(args) -> None:
    """The trial's saved model through its own evaluation on fresh problems (``caseray.trial.retest``)."""
    from caseray.core.paths import check_output_folder
    from caseray.trial.retest import retest

    digits = int_list(args.digits, "--digits")
    if args.per_length < 1:
        raise SpecError("--per-length", f"{args.per_length} problems per family and length", "an integer >= 1")
    if args.data_seed < 0:
        raise SpecError("--data-seed", f"{args.data_seed} is not a seed", "an integer >= 0")
    floats(0.0, low_open=True).check("--slope-scale", args.slope_scale)  # a finite number > 0
    check_output_folder(args.out, "--out")
    out, metrics = retest(args.trial, digits, args.per_length, args.data_seed, args.out, args.slope_scale)
    for n in digits:
        print(f"{n:>4} digits: exact {metrics[f'len_acc/{n}']:.3f}", flush=True)
    print(f"{out} (cells.parquet, metrics.json)")


def add_misses_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("folders", nargs="+", help="finished length trials' or retests' folders (reversed addition)")
    p.add_argument("--digits", help="comma-separated test lengths to read (default: every length)")


def cmd_misses(args) -> None:
    """Per folder: wrong answers by the responsible place's two digits (``caseray.trial.misses``)."""
    from caseray.trial.misses import RELATIONS, column_text, folder_misses, trial_of

    digits = set(int_list(args.digits, "--digits")) if args.digits else None
    for folder in args.folders:
        trial_of(folder)  # (every folder checked before any is read)
    rows, total = [], Counter()
    for folder in args.folders:
        found = folder_misses(folder, digits)
        counts = found.tally(top=1)
        total.update(counts["relations"])
        top = ""
        if counts["columns"]:
            column, first, places = counts["columns"][0]
            top = f"{column_text(column)}: first wrong at {first} of its {places} places"
        rows.append([Path(folder).name, str(found.spec.seed), str(found.rows), str(counts["misses"]),
                     *map(str, counts["relations"].values()), "–" if not counts["misses"] else f"{found.chance:.2f}",
                     top or ("no test rows at these lengths" if not found.rows else "")])
    print(format_table(["folder", "seed", "rows", "wrong", *RELATIONS, "equal by chance", "commonest"], rows,
                       "markdown"))
    wrong = sum(total.values())
    print(f"all: {wrong} wrong, {total[RELATIONS[0]]} at a place of equal digits")


ID_SPACING = Command("id-spacing", "a saved coupled-id model on fresh additions with other id maps",
                     add_id_spacing_args, cmd_id_spacing,
                     ("caseray analyze id-spacing caseray_out/trials/TRIAL --maps even,gap2 --digits 10,20",
                      "caseray analyze id-spacing caseray_out/trials/TRIAL --maps gap1,gap2,gap3,rand255"))
RETEST = Command("retest", "a saved length trial's model on fresh problems (another data seed, chosen lengths)",
                 add_retest_args, cmd_retest,
                 ("caseray analyze retest caseray_out/sweeps/trials/TRIAL --digits 50,100",
                  "caseray analyze retest caseray_out/trials/TRIAL --digits 10 --per-length 200 --data-seed 7"))
MISSES = Command("misses", "where a length trial's wrong additions go wrong: the responsible place's two digits "
                 "(equal, different, one missing)", add_misses_args, cmd_misses,
                 ("caseray analyze misses caseray_out/retested/TRIAL-retest-* --digits 50",
                  "caseray analyze misses caseray_out/trials/TRIAL"))
RESCORE = Command("rescore", "a saved model evaluated again with a test-time change (logn attention)",
                  add_rescore_args, cmd_rescore,
                  ("caseray analyze rescore caseray_out/trials/TRIAL --attention logn",
                   "caseray analyze rescore caseray_out/sweeps/trials/TRIAL --attention logn --out rescored"))


def add_probe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("trial", help="a finished grid trial's folder (saved with save_model: true)")
    p.add_argument("--out", help="results folder (default: TRIAL/probe)")
    p.add_argument("--ridge", type=float, default=1e-3, help="ridge strength of the linear probes, as a share "
                   "of the mean eigenvalue of the states' Gram matrix (default 1e-3)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"], help="where the model runs")


def cmd_probe(args) -> None:
    """Inside the trial's saved model (``caseray.trial.probe``): the number embeddings' PCA and DFT
    (number tokenizer only; skipped with a note otherwise), ridge probes of every layer's state at '='
    for s, |d| and d, attention at '=' on a = b against a != b cells of the same sums, and the failed
    cells' error and margin against |d| and s. Writes probe.json, probe.md and PNGs."""
    from caseray.core.paths import check_output_folder
    from caseray.trial.probe import probe_trial, run_probe
    from caseray.trial.probe_summary import summary_lines

    if not (args.ridge > 0 and math.isfinite(args.ridge)):
        raise SpecError("--ridge", f"{args.ridge} is not a ridge strength", "a finite number > 0, e.g. 1e-3")
    folder, _ = probe_trial(args.trial)
    out = check_output_folder(args.out if args.out is not None else folder / "probe", "--out")
    device = args.device
    if device != "cpu":
        import torch

        if not torch.cuda.is_available():
            if device == "cuda":
                raise SpecError("--device", "no CUDA device here", ["cpu", "auto"])
        device = "cuda" if torch.cuda.is_available() else "cpu"
    out, probe = run_probe(folder, out, args.ridge, device)  # (a prompt it cannot read is refused before writing)
    print("\n".join(summary_lines(probe)))
    print(f"{out}: probe.json, probe.md, " + ", ".join(sorted(p.name for p in out.glob("*.png"))))


PROBE = Command("probe", "inside a grid trial's saved model: number-embedding PCA/DFT, linear probes of s and d at "
                "'=', attention on a = b vs a != b, failed cells' error and margin", add_probe_args, cmd_probe,
                ("caseray analyze probe caseray_out/trials/TRIAL",
                 "caseray analyze probe caseray_out/sweeps/trials/TRIAL --out probe-TRIAL --ridge 1e-2"))
GROUP = Group("analyze", "one view of a finished sweep (curves, hole maps, step coverage) or of one trial's "
              "saved model (id spacing, rescore, retest, misses, probe)", (CURVES, HOLE_MAPS, STEP_COVERAGE, ID_SPACING,
                                                                  RESCORE, RETEST, MISSES, PROBE))


def launch(command: Command, doc: str | None = None, argv: list[str] | None = None) -> None:
    """What ``analysis/<script>.py`` runs: one command, ``--help`` showing the script's ``doc``; bad
    input exits 2."""
    parser = Parser(description=doc or command.help,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    command.add_args(parser)
    args = parser.parse_args(argv)
    script(lambda: command.run(args))
