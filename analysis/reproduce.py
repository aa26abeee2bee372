"""The studies' claims, measured: python analysis/reproduce.py [--quick | --full] [--no-run]."""

import sys

from caseray.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["reproduce", *sys.argv[1:]]))
