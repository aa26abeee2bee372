"""``caseray sync``: a sweep's finished trials from its results storage into MLflow -- the parent run
and a FINISHED child per trial with its params, final metrics and artifacts -- for runs a tracking
outage left unlogged. Idempotent: runs already FINISHED are left as they are."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from caseray.cli.common import Command, add_tracking_uri, tracking_uri
from caseray.core.errors import SpecError
from caseray.core.redact import redact
from caseray.sweep.spec import TRACKING_SCHEMES, check_uri


def cmd_sync(args) -> None:
    from caseray.sweep.results import MANIFEST, local_sweep_ids, read_spec
    from caseray.sweep.storage import Store, pull_trial, trials_folder
    from caseray.sweep.tracking import Tracker
    from caseray.trial.result import read_result

    check_uri("tracking_uri", tracking_uri(args), TRACKING_SCHEMES)
    store = Store(args.storage)
    if not store.exists(args.sweep, MANIFEST):
        raise SpecError("sweep", f"no sweep {args.sweep!r} in {redact(store.uri())}",
                        local_sweep_ids(args.storage) or ["(none there)"])
    manifest = json.loads(store.read_text(args.sweep, MANIFEST))
    results = []
    for name in manifest["trials"]:
        pull_trial(args.storage, name)  # an object store's trial, copied to this machine
        folder = Path(trials_folder(args.storage)) / name
        result = read_result(folder)
        if result is not None:
            results.append((read_spec(Store(folder.parent), name), result))
    tracker = Tracker(tracking_uri(args))
    added = tracker.sync(args.sweep, manifest["sweep"], results, complete=len(results) == len(manifest["trials"]))
    print(f"sweep {args.sweep}: {len(results)} of {len(manifest['trials'])} trials finished in "
          f"{redact(store.uri())}; {added} logged to MLflow at {tracker.shown}, {len(results) - added} were there")


def add_sync_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("sweep", help="the sweep id (its folder in the results storage)")
    p.add_argument("--storage", default="caseray_out/sweeps", help="the sweep's results folder or object-store URI")
    add_tracking_uri(p)


COMMAND = Command("sync", "log a sweep's finished trials from its results storage to MLflow (after an outage)",
                  add_sync_args, cmd_sync,
                  ("caseray sync square-smoke-1a2b3c4d --tracking-uri http://127.0.0.1:5000",
                   "caseray sync square-smoke-1a2b3c4d --storage s3://bucket/sweeps --tracking-uri sqlite:///mlflow.db"))
