"""Command lines: ``caseray`` (``cli.main``), the sweep launchers (``cli.sweep.launch``) and the
analysis scripts (``cli.common.script``)."""

from caseray.cli.main import main

__all__ = ["main"]
