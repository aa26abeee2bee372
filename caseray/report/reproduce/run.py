"""``caseray reproduce`` end to end: run (or re-read) a mode's sweep on Ray, judge its claims, write
reproduce.md beside the sweep's report and log both to MLflow."""

from __future__ import annotations

from pathlib import Path

from caseray.core.atomic import write_text_atomic
from caseray.core.specs import from_dict
from caseray.report.build import build_report, log_report
from caseray.report.reproduce.claims import Verdict, judge
from caseray.report.reproduce.modes import plan, runs_by_grid
from caseray.report.reproduce.render import summary, table
from caseray.report.sweep_report import read_records
from caseray.sweep.ray import run_sweep
from caseray.sweep.spec import SweepSpec
from caseray.sweep.storage import local_folder, publish


def run_reproduce(mode: str, storage: str, tracking_uri: str, num_cpus: int | None = None,
                  run: bool = True) -> tuple[list[Verdict], Path]:
    """Run (or, with ``run=False``, only read back) the mode's sweep, judge the claims, write
    reproduce.md beside the sweep's report and log both to its MLflow parent run."""
    sweep = from_dict(SweepSpec, {**plan(mode), "storage_path": storage, "tracking_uri": tracking_uri})
    sweep.trials()  # every trial validated before anything runs
    if run:
        run_sweep(sweep, num_cpus=num_cpus)
    _, records = read_records(sweep.id, storage, tracking_uri)
    verdicts = judge(runs_by_grid(sweep, records, mode))
    out = local_folder(storage, sweep.id, "report")
    write_text_atomic(out / "reproduce.md", f"# caseray reproduce --{mode}\n\n{len(records)} finished trials "
                      f"(sweep {sweep.id}).\n\n" + table(verdicts) + "\n" + summary(verdicts))
    if records:  # the report from the records just read, beside reproduce.md
        build_report(sweep.id, records, out)
    publish(storage, out, sweep.id, "report")
    log_report(tracking_uri, sweep.id, out)
    return verdicts, out / "reproduce.md"
