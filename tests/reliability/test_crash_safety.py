"""A sweep that dies still leaves a true record: its MLflow parent run ends FAILED or KILLED, a resume
with another configuration is refused, staging folders are private, result files follow the umask,
and only a damaged checkpoint is ever skipped."""

import json
import os
import signal
import time

import pytest
import torch

from caseray.core import atomic
from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.sweep.ray import preflight
from caseray.sweep.ray import run as ray_run
from caseray.sweep.spec import SweepSpec
from caseray.sweep.storage import staging_root
from caseray.sweep.tracking import Tracker
from caseray.train.spec import TrainSpec
from caseray.trial.run import run_trial
from helpers import tiny_spec


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_an_atomic_write_has_the_mode_the_umask_gives(tmp_path, monkeypatch, umask, mode):
    before = os.umask(umask)
    atomic.file_mode.cache_clear()
    try:
        atomic.write_text_atomic(tmp_path / "metrics.json", "{}")
    finally:
        os.umask(before)
        atomic.file_mode.cache_clear()
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == mode


def test_a_checkpoint_error_that_is_not_damage_is_raised(tmp_path, monkeypatch):
    """A torch without ``safe_globals`` must not make every checkpoint 'unreadable' (a silent restart)."""
    spec = tiny_spec(train=TrainSpec(steps=20, lr=3e-3, batch_size=32, log_every=5, checkpoint_every=5))
    run_trial(spec, tmp_path, stop_after=10)
    monkeypatch.delattr(torch.serialization, "safe_globals")
    with pytest.raises(AttributeError, match="safe_globals"):
        run_trial(spec, tmp_path)
    assert not (tmp_path / spec.name / "metrics.json").exists()


@pytest.fixture
def temp_dir(tmp_path, monkeypatch):
    import tempfile

    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return tmp_path / "tmp"


def test_the_staging_folder_is_private(temp_dir):
    folder = staging_root("s3://b/x")
    assert folder.parent.name == f"caseray-staging-{os.getuid()}"
    assert folder.parent.stat().st_mode & 0o777 == 0o700


def test_a_planted_symlink_is_refused_and_never_followed(temp_dir, tmp_path):
    (tmp_path / "attacker").mkdir()
    (temp_dir / f"caseray-staging-{os.getuid()}").symlink_to(tmp_path / "attacker")
    with pytest.raises(SpecError, match=r"staging folder: .* is a symlink"):
        staging_root("s3://b/x")
    assert list((tmp_path / "attacker").iterdir()) == []


def test_a_folder_others_can_write_to_is_refused(temp_dir):
    planted = temp_dir / f"caseray-staging-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)
    with pytest.raises(SpecError, match=r"staging folder: .* is writable by others \(mode 777\)"):
        staging_root("s3://b/x")


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to plant a folder owned by someone else")
def test_a_folder_of_another_user_is_refused(temp_dir):
    planted = temp_dir / f"caseray-staging-{os.getuid()}"
    planted.mkdir(mode=0o700)
    os.chown(planted, 12345, 12345)
    with pytest.raises(SpecError, match=r"belongs to uid 12345"):
        staging_root("s3://b/x")


def sweep_at(tmp_path, **changes) -> SweepSpec:
    data = {"name": "crash", "storage_path": str(tmp_path / "out"), "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
            "base": {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3},
                     "train": {"steps": 10, "batch_size": 32}},
            "axes": {"seed": [0]}}
    return from_dict(SweepSpec, {**data, **changes})


@pytest.fixture
def no_ray(monkeypatch):
    """``run_sweep`` up to its Tune grid without a Ray: the MLflow parent run and the manifest are real."""
    monkeypatch.setattr(preflight, "init_ray", lambda num_cpus=None: None)
    monkeypatch.setattr(preflight, "check_cluster_storage", lambda root, uri: None)


def parent_status(sweep: SweepSpec) -> str:
    tracker = Tracker(sweep.tracking_uri)
    return tracker.client.get_run(tracker.parent_of(sweep.id)).info.status


def sigterm(*args):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)  # the handler raises long before


@pytest.mark.parametrize("raised, status", [(RuntimeError("boom"), "FAILED"), (KeyboardInterrupt(), "KILLED"),
                                            (None, "KILLED")])
def test_the_parent_run_ends_failed_or_killed(tmp_path, monkeypatch, no_ray, raised, status):
    def tune_trials(*args):
        if raised is None:  # a real SIGTERM
            sigterm()
        raise raised

    monkeypatch.setattr(ray_run, "tune_trials", tune_trials)
    sweep = sweep_at(tmp_path)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(BaseException) as err:
        ray_run.run_sweep(sweep)
    assert type(err.value).__name__ == ("Terminated" if raised is None else type(raised).__name__)
    assert parent_status(sweep) == status
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_failure_in_pairing_ends_the_parent_run_failed(tmp_path, monkeypatch, no_ray):
    monkeypatch.setattr(ray_run, "tune_trials", lambda *args: [])
    monkeypatch.setattr(ray_run, "pair_controls", lambda *args: 1 / 0)
    sweep = sweep_at(tmp_path)
    with pytest.raises(ZeroDivisionError):
        ray_run.run_sweep(sweep)
    assert parent_status(sweep) == "FAILED"


@pytest.mark.parametrize("changes, field", [
    ({"tracking_uri": "sqlite:///{tmp}/other.db"}, "tracking_uri"),
    ({"storage_path": "{tmp}/elsewhere"}, "storage_path"),
    ({"resources": {"cpus_per_trial": 2}}, "resources.cpus_per_trial"),
])
def test_a_resume_with_another_configuration_is_refused(tmp_path, monkeypatch, no_ray, changes, field):
    monkeypatch.setattr(ray_run, "tune_trials", lambda *args: [])
    first = sweep_at(tmp_path)
    ray_run.run_sweep(first)
    manifest = json.loads((tmp_path / "out" / first.id / "sweep.json").read_text())
    assert manifest["config"]["tracking_uri"] == f"sqlite:///{tmp_path}/mlflow.db"
    before = sorted(p for p in tmp_path.rglob("*") if "cache" not in p.parts)
    changed = sweep_at(tmp_path, **json.loads(json.dumps(changes).replace("{tmp}", str(tmp_path))))
    assert changed.id == first.id  # the id leaves these out: only the stored run config tells
    with pytest.raises(SpecError, match=rf"^{field}: is .* but the sweep {first.id} being resumed ran with"):
        ray_run.run_sweep(changed, resume=True, num_cpus=2)
    assert sorted(p for p in tmp_path.rglob("*") if "cache" not in p.parts) == before  # nothing written
    ray_run.run_sweep(first, resume=True)  # the same configuration resumes
