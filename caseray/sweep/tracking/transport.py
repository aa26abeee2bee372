"""How caseray talks to an MLflow store, apart from what it says (``runs``): every call retried
through a busy or absent store within a budget, one lock per sqlite file on this machine, and the URI
forms a store is reached by. What is worth retrying is judged by exception type and MLflow error code.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import random
import tempfile
import time
import warnings
from pathlib import Path

from caseray.core.errors import SpecError, causes
from caseray.core.redact import redact
from caseray.sweep.storage import private_folder

RETRY_S = 120.0  # default retry budget per outage, in seconds (CASERAY_TRACKING_RETRY_S)
# MLflow error codes of a store that may answer later: 503 / a busy store, 504, 429
TRANSIENT_CODES = ("TEMPORARILY_UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "REQUEST_LIMIT_EXCEEDED")
_OUTAGES: dict[str, float] = {}  # URI -> when calls to it began failing (one warning per outage)


class TrackingUnavailable(RuntimeError):
    """The tracking store stayed busy or away for longer than the retry budget."""


def retry_budget() -> float:
    value = os.environ.get("CASERAY_TRACKING_RETRY_S", str(RETRY_S))
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < math.inf:
        raise SpecError("CASERAY_TRACKING_RETRY_S", f"{value!r} is not a number of seconds", [">= 0"])
    return seconds


def busy(err: BaseException) -> bool:
    """A sqlite store locked by another writer: SQLAlchemy's ``OperationalError`` (MLflow passes it on
    as ``TEMPORARILY_UNAVAILABLE`` raised from it)."""
    from sqlalchemy.exc import OperationalError

    return any(isinstance(e, OperationalError) for e in causes(err))


def transient(err: BaseException) -> bool:
    """Worth retrying, judged by exception type and MLflow error code (never by message): a busy
    sqlite; a server that cannot be reached, timed out, or answered 5xx / 429 (``requests``'
    ``ConnectionError``, ``Timeout``, ``RetryError`` under MLflow's exception); an MLflow error whose
    code says so (``TRANSIENT_CODES``: 503, 504, 429 answers and the store's own busy signal)."""
    import requests
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import OperationalError

    retried = (OperationalError, requests.exceptions.ConnectionError, requests.exceptions.Timeout,
               requests.exceptions.RetryError)
    return any(isinstance(e, retried) or (isinstance(e, MlflowException) and e.error_code in TRANSIENT_CODES)
               for e in causes(err))


def absolute_uri(uri: str) -> str:
    """``sqlite:///mlflow.db`` -> ``sqlite:////abs/dir/mlflow.db``: trial processes run elsewhere."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str(Path(uri[len("sqlite:///"):]).resolve())
    return uri


def artifact_root(uri: str) -> str | None:
    """Artifacts of a sqlite store live beside the database file; a server decides for itself."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).resolve().parent / "mlartifacts").as_uri()
    return None


@contextlib.contextmanager
def store_lock(uri: str):
    """One process at a time on this machine per sqlite file (a no-op for servers): MLflow migrates a
    fresh file on first open, and concurrent migrations break each other; finding-then-creating a
    run under it is race-free (sqlite is one machine's store)."""
    if not uri.startswith("sqlite:"):
        yield
        return
    import fcntl

    folder = private_folder(Path(tempfile.gettempdir()) / f"caseray-locks-{os.getuid()}")  # no planted file
    with open(folder / f"mlflow-{hashlib.sha256(uri.encode()).hexdigest()[:16]}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Retrying:
    """``MlflowClient`` with every call retried while the store is busy or away: exponential backoff
    with jitter, up to ``retry_s`` from the start of the outage (so a long one costs that once, and
    later calls fail at once until the store answers again); one warning when an outage begins."""

    def __init__(self, client, uri: str, retry_s: float):
        self._client, self._uri, self._shown, self.retry_s = client, uri, redact(uri), retry_s

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        return functools.partial(self._call, attr) if callable(attr) else attr

    def _call(self, fn, *args, **kwargs):
        delay = 0.2
        while True:
            try:
                out = fn(*args, **kwargs)
            except Exception as err:
                if not transient(err):
                    raise
                now, why = time.time(), redact(str(err).splitlines()[0])[:300]
                since = _OUTAGES.setdefault(self._uri, now)
                if since == now and not busy(err):  # a busy sqlite is no outage
                    warnings.warn(f"MLflow at {self._shown} is unreachable ({why}); retrying for up to "
                                  f"{self.retry_s:g} s", RuntimeWarning, stacklevel=3)
                if now >= since + self.retry_s:
                    raise TrackingUnavailable(f"MLflow at {self._shown} stayed unreachable: {why}") from None
                time.sleep(min(delay * random.uniform(0.5, 1.5), since + self.retry_s - now))
                delay = min(delay * 2, 10.0)
                continue
            _OUTAGES.pop(self._uri, None)
            return out
