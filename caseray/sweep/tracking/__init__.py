"""MLflow, in one package: ``runs`` (what caseray records: sweeps, trials, metrics, artifacts, sync)
over ``transport`` (retries, locks, store URIs). Nothing else in caseray imports mlflow."""

from caseray.sweep.tracking.runs import CLAIM, CLAIMED_BY, Tracker, numeric
from caseray.sweep.tracking.transport import (
    Retrying,
    TrackingUnavailable,
    absolute_uri,
    artifact_root,
    busy,
    retry_budget,
    store_lock,
    transient,
)

__all__ = ["CLAIM", "CLAIMED_BY", "Retrying", "Tracker", "TrackingUnavailable", "absolute_uri", "artifact_root",
           "busy", "numeric", "retry_budget", "store_lock", "transient"]
