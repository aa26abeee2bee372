"""The ``caseray`` command: one table of commands, one way to fail (bad input: exit 2 and a message
naming the field, before anything runs or is written)."""

from __future__ import annotations

import argparse
import sys

from caseray.cli import analysis, data, plan, predict, report, spec_show, sweep, sync, trial, ui
from caseray.cli.common import PROG, Parser, add_commands, epilog, guarded

COMMANDS = (data.GROUP, trial.COMMAND, sweep.GROUP, plan.COMMAND, report.REPORT, analysis.GROUP,
            predict.COMMAND, report.REPRODUCE, ui.COMMAND, sync.COMMAND, spec_show.GROUP)

EXAMPLES = ("caseray sweep run square_grid --preset smoke", "caseray report square-smoke",
            "caseray spec show trial", "python -m caseray --version")


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("caseray")
    except PackageNotFoundError:  # a source tree that was never installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog=PROG, description=__doc__, epilog=epilog(EXAMPLES),
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    add_commands(parser, COMMANDS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return guarded(args.run, args)


if __name__ == "__main__":
    sys.exit(main())
