"""The step-coverage predictor on a sweep's step-format trials: per trial, how many test cells it
expects to fail (a step never seen in training), how many failed, precision, recall, and the steps
most often missing:

    python analysis/step_coverage.py SWEEP [--csv coverage.csv]
"""

import argparse

from caseray.report.aggregate import markdown_table, write_csv
from caseray.report.build import coverage_rows
from caseray.cli.report import add_source_args
from caseray.report.sweep_report import load_records
from caseray.cli.common import script


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_args(p)
    p.add_argument("--csv", help="also write the table as CSV")
    args = p.parse_args()
    _, records = load_records(args.sweep, args.storage, args.tracking_uri, args.source)
    rows = coverage_rows(records)
    print(markdown_table(rows) if rows else "no step-format trials (scratchpad, rule_following) in this sweep")
    if args.csv and rows:
        print(write_csv(rows, args.csv))


if __name__ == "__main__":
    script(main)
