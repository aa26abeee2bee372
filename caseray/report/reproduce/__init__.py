"""``caseray reproduce``: the studies' claims that a from-scratch CPU model can test, each measured
over >= 3 seeds from a fixed set of sweeps, and said plainly: reproduced or not.

The sweeps run on Ray like any other (finished trials are found again in the results folder and
MLflow, so a second run only re-reads them). ``quick`` takes ~33 minutes on a 2-core machine for the
square claims, plus ~20 for the six length trials shared with ``rfft_length --preset quick`` (0-39
grids, h = 6, tiny model); ``full`` is the paper's grids and h = 10 for a cluster.

Four modules, one job each: ``modes`` (the sweep of each mode), ``claims`` (judging: records in,
verdicts out, nothing run), ``render`` (table and summary), ``run`` (the sweep on Ray, then the rest).
"""

from caseray.report.reproduce.claims import CLAIMS, Judge, Verdict, judge
from caseray.report.reproduce.modes import MODES, SEEDS, Mode, design, plan, runs_by_grid
from caseray.report.reproduce.render import summary, table

__all__ = ["CLAIMS", "MODES", "SEEDS", "Judge", "Mode", "Verdict", "design", "judge", "plan", "runs_by_grid",
           "summary", "table"]
