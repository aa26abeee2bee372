"""``caseray ui``: MLflow's UI on the sweeps' tracking store, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from caseray.cli.common import Command, add_tracking_uri, tracking_uri
from caseray.core.errors import SpecError
from caseray.core.redact import redact
from caseray.sweep.spec import TRACKING_SCHEMES, check_uri
from caseray.sweep.tracking import absolute_uri


def cmd_ui(args) -> None:
    """``mlflow ui`` on the given store; an argument list, never a shell string."""

    check_uri("tracking_uri", tracking_uri(args), TRACKING_SCHEMES)
    uri = absolute_uri(tracking_uri(args))
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which("mlflow")
    if mlflow is None:
        raise SpecError("ui", "the mlflow command is not installed beside this Python or on PATH")
    print(f"MLflow UI on http://{args.host}:{args.port} ({redact(uri)})", flush=True)
    os.execv(mlflow, [mlflow, "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)])


def add_ui_args(p: argparse.ArgumentParser) -> None:
    add_tracking_uri(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=5000)


COMMAND = Command("ui", "open the MLflow UI on the sweeps' tracking store (127.0.0.1 by default)", add_ui_args, cmd_ui,
                  ("caseray ui", "caseray ui --tracking-uri sqlite:///mlflow.db --port 5001"))
