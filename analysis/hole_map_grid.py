"""Hole maps of a sweep, panels arranged by two chosen axes (each may combine several, comma-separated):

    python analysis/hole_map_grid.py square-smoke --rows task.name,split --cols tokenizer [--per-seed]
"""

import argparse

from caseray.cli.report import add_source_args
from caseray.report.sweep_report import load_records, parse_axes
from caseray.cli.common import script
from caseray.report.figures import hole_map_grid


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_args(p)
    p.add_argument("--rows", default="", help="axes down the page")
    p.add_argument("--cols", default="", help="axes across the page")
    p.add_argument("--per-seed", action="store_true")
    p.add_argument("--out", default="holemaps.png")
    args = p.parse_args()
    _, records = load_records(args.sweep, args.storage, args.tracking_uri, args.source)
    for path in hole_map_grid(records, parse_axes(args.rows, "rows", records), parse_axes(args.cols, "cols", records),
                              args.out, args.per_seed):
        print(path)


if __name__ == "__main__":
    script(main)
