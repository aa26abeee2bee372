"""Hole maps of a sweep, panels arranged by two chosen axes (each may combine several, comma-separated):

    python analysis/hole_map_grid.py square-smoke --rows task.name,split --cols tokenizer [--per-seed]

Same as ``caseray analyze hole-maps``.
"""

from caseray.cli.analysis import HOLE_MAPS, launch

if __name__ == "__main__":
    launch(HOLE_MAPS, __doc__)
