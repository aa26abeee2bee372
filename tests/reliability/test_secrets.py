"""Credentials in a storage or tracking URI are never printed or stored: not in the manifest, not in
Ray Tune's experiment files, not in MLflow, not in Ray's logs (real Ray, a real MLflow server)."""

from pathlib import Path

import pytest

from caseray.cli.sweep import launch_code
from caseray.core.specs import from_dict
from caseray.sweep.spec import SweepSpec
from helpers import mlflow_server

SECRETS = (b"AKIAFAKE", b"SEKRETVALUE", b"SEKRETTOKEN")


def leaks(*texts: str | bytes) -> list[bytes]:
    data = b"".join(t.encode() if isinstance(t, str) else t for t in texts)
    return [s for s in SECRETS if s in data]


def files_with_secrets(*folders: Path) -> list[str]:
    return [str(p) for folder in folders for p in Path(folder).rglob("*")
            if p.is_file() and not p.is_symlink() and leaks(p.read_bytes())]


def test_a_dry_run_shows_no_credentials(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    tracking = ["--tracking-uri", "https://user:SEKRETTOKEN@127.0.0.1:1/?token=SEKRETTOKEN"]
    assert launch_code("square_grid", ["--dry-run", *tracking]) == 0
    out, err = capfd.readouterr()
    assert "sweep square-smoke-" in out and not leaks(out, err)
    # credentials in the storage URI are refused (Tune would keep them in its files); the message hides them
    assert launch_code("square_grid", ["--dry-run", "--storage", "s3://AKIAFAKE:SEKRETVALUE@bucket/x",
                                       *tracking]) == 2
    out, err = capfd.readouterr()
    assert "storage_path: s3://***@bucket/x carries credentials" in err and not leaks(out, err)
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
def test_a_sweep_stores_no_credentials(ray_local, tmp_path, capfd):
    """A one-trial sweep against an MLflow server reached as ``http://user:SEKRETTOKEN@...`` (a server
    without auth ignores basic auth): the token is in no file of the results, of Tune's experiment
    folder (tuner.pkl, params.json, result.json), of the MLflow server, and in no Ray log of this session."""
    import ray

    from caseray.sweep.ray import run_sweep

    (tmp_path / "mlflow").mkdir()
    with mlflow_server(tmp_path / "mlflow") as (uri, _):
        sweep = from_dict(SweepSpec, {
            "name": "secret", "storage_path": str(tmp_path / "out"),
            "tracking_uri": uri.replace("http://", "http://user:SEKRETTOKEN@"),
            "resources": {"cpus_per_trial": 1},
            "base": {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "save_model": False,
                     "train": {"steps": 10, "batch_size": 32, "log_every": 5, "checkpoint_every": 5}},
            "axes": {"seed": [0]}})
        (outcome,) = run_sweep(sweep)
    assert outcome.error is None and outcome.metrics
    experiment = tmp_path / "out" / sweep.id
    assert (experiment / "tuner.pkl").exists() and list(experiment.glob("*/params.json"))
    assert b"http://***@127.0.0.1" in (experiment / "sweep.json").read_bytes()
    session = Path(ray._private.worker._global_node.get_session_dir_path())
    assert files_with_secrets(tmp_path, session / "logs") == []
    out, err = capfd.readouterr()
    assert not leaks(out, err)


@pytest.mark.parametrize("argv", [["sweep", "run", "x", "--num-cpus", "s3://AKIA:SECRETVALUE@b/x"],
                                  ["trial", "--bogus", "https://bob:SECRETVALUE@host"]])
def test_argparse_refusals_never_echo_a_credential(argv, capsys):
    """argparse echoes a bad value in its message (found by the fuzz test: ``invalid int value``)."""
    from caseray.cli.main import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "SECRETVALUE" not in err and "***@" in err
