"""Accuracy curves of a sweep, one line per group of --by axes (mean ± std over the rest, e.g. seeds):

    python analysis/curves.py square-smoke --by tokenizer,split --out-dir curves/
writes signature.png (accuracy vs ring and vs distance to training), square_size.png (vs h) and
length.png (vs digits) -- each where the sweep has what it needs.
"""

import argparse
from pathlib import Path

from caseray.report import figures as figs
from caseray.cli.report import add_source_args
from caseray.report.sweep_report import load_records, parse_axes
from caseray.cli.common import script


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_args(p)
    p.add_argument("--by", default="", help="comma-separated axes; default: every axis of the sweep")
    p.add_argument("--out-dir", default=".")
    args = p.parse_args()
    _, records = load_records(args.sweep, args.storage, args.tracking_uri, args.source)
    if args.by:
        by = parse_axes(args.by, "by", records)
    else:
        from caseray.report.aggregate import varying_axes

        by = varying_axes(records)
    out = Path(args.out_dir)
    for path in (figs.signature(records, by, out / "signature.png"),
                 figs.square_size(records, [a for a in by if a not in ("split", "split.half_width")], out / "square_size.png"),
                 figs.length_curves(records, by, out / "length.png")):
        if path is not None:
            print(path)


if __name__ == "__main__":
    script(main)
