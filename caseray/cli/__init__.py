"""Command lines: ``caseray`` (``cli.main``), the sweep launchers (``cli.sweep.launch``;
``cli.hole_check.main`` for sweeps/local_hole_check.py) and the analysis scripts (``cli.analysis.launch``;
analysis/report.py and reproduce.py call ``cli.main.main``)."""

from caseray.cli.main import main

__all__ = ["main"]
