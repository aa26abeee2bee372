"""Security defaults, each checked on the real thing: servers listen on 127.0.0.1 only, checkpoints
load weights-only, and no shell command is ever built (YAML safety: test_bad_input.py)."""

import ast
import os
import pickle
from pathlib import Path

import psutil
import pytest

from caseray.train.checkpoints import LocalCheckpoints

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def listening_addresses(root: psutil.Process) -> set[str]:
    """The IP addresses every process in ``root``'s tree listens on."""
    found = set()
    for proc in [root, *root.children(recursive=True)]:
        try:
            conns = proc.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found |= {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN}
    return found


@pytest.mark.slow
def test_embedded_ray_listens_on_loopback_only(ray_local):
    addresses = listening_addresses(psutil.Process())
    assert addresses and addresses <= LOOPBACK, addresses


@pytest.mark.slow
def test_mlflow_ui_listens_on_loopback_only(tmp_path):
    from helpers import mlflow_server

    with mlflow_server(tmp_path) as (_, proc):
        addresses = listening_addresses(psutil.Process(proc.pid))
        assert addresses and addresses <= LOOPBACK, addresses


class _Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickled_payload_in_a_checkpoint_is_never_run(tmp_path):
    """torch.load(weights_only=True) refuses arbitrary objects: the checkpoint is skipped, not executed."""
    marker = tmp_path / "pwned"
    step = tmp_path / "checkpoints" / "step-00000010"
    step.mkdir(parents=True)
    with open(step / "state.pt", "wb") as f:
        pickle.dump({"model": _Payload(str(marker)), "step": 10}, f)

    class Engine:
        def load(self, directory):
            from caseray.train.checkpoints import load_state

            return load_state(Path(directory) / "state.pt")["step"]

    with pytest.warns(UserWarning, match="unreadable"):
        assert LocalCheckpoints(tmp_path / "checkpoints").restore(Engine()) == 0
    assert not marker.exists()


def test_no_shell_commands_in_the_library():
    """No ``shell=True``, ``os.system`` or ``os.popen`` anywhere in caseray/, sweeps/ or analysis/."""
    offenders = []
    for path in [*REPO.glob("caseray/**/*.py"), *REPO.glob("sweeps/*.py"), *REPO.glob("analysis/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if name in ("os.system", "os.popen") or any(
                    k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                    for k in node.keywords):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {name}")
    assert offenders == []
