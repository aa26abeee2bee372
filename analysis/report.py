"""A sweep's report: python analysis/report.py SWEEP [--rows task.name --cols tokenizer] [--per-seed]."""

import sys

from caseray.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
