"""caseray works as an installed package, not only from its checkout: a wheel built from the tree,
installed (non-editable) into a fresh virtual environment, plans and dry-runs the shipped sweeps from
a directory with no ``sweeps/`` or ``clusters/`` in it."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; its third-party dependencies come from this environment's
    site-packages by a plain path entry (no .pth of that folder runs, so the editable caseray there
    stays invisible)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "caseray_out",
                                                                 "__pycache__", "mlflow.db", "mlruns"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp / "dist"), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp / "dist").glob("caseray-*.whl")
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return env_dir


def run_in(env_dir: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(env_dir / "bin" / "caseray"), *argv], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_the_installed_package_is_not_the_checkout(installed, tmp_path):
    proc = subprocess.run([str(installed / "bin" / "python"), "-c", "import caseray; print(caseray.__file__)"],
                          capture_output=True, text=True, cwd=tmp_path, check=True)
    assert str(installed) in proc.stdout and str(ROOT) not in proc.stdout


def test_plan_of_a_shipped_preset_from_anywhere(installed, tmp_path):
    proc = run_in(installed, tmp_path, "plan", "square_grid", "--preset", "smoke", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    plan = json.loads(proc.stdout)
    assert plan["trials"] == 16 and plan["sweep"].startswith("square-smoke-") and plan["cluster"] is None


def test_sweep_dry_run_from_anywhere(installed, tmp_path):
    proc = run_in(installed, tmp_path, "sweep", "run", "lema", "--preset", "smoke", "--dry-run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("sweep lema-smoke-") and " 3 trials;" in proc.stdout.splitlines()[0]
    bad = run_in(installed, tmp_path, "sweep", "run", "square_grid", "--dry-run", "--set", "train.lr=-1")
    assert bad.returncode == 2 and "caseray: error: train.lr:" in bad.stderr
    assert not any(tmp_path.iterdir())  # nothing written
