"""The scripts users run -- ``sweeps/*.py`` and ``analysis/*.py`` -- are short launchers over the
library; every launcher's dry run works from the command line, and bad input exits 2 naming the field."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from caseray.cli.sweep import launch_code
from caseray.presets import SWEEPS, presets

ROOT = Path(__file__).resolve().parents[1]
LAUNCHERS = sorted((ROOT / "sweeps").glob("*.py")) + sorted((ROOT / "analysis").glob("*.py"))
MAX_LINES = 40


def run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.mark.parametrize("path", LAUNCHERS, ids=[f"{p.parent.name}/{p.name}" for p in LAUNCHERS])
def test_launchers_are_short(path):
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert len(lines) <= MAX_LINES, f"{path.name}: {len(lines)} non-blank lines"


def test_every_shipped_sweep_has_a_launcher():
    assert {p.stem for p in (ROOT / "sweeps").glob("*.py")} == set(SWEEPS.names()) | {"local_hole_check"}


CASES = [(sweep, name) for sweep in SWEEPS.names() for name in presets(sweep)]


@pytest.mark.parametrize("sweep, preset", CASES, ids=[f"{s}-{p}" for s, p in CASES])
def test_launcher_dry_run(sweep, preset, tmp_path, monkeypatch, capsys):
    """What ``sweeps/<sweep>.py --preset <preset> --dry-run`` runs, from another directory."""
    monkeypatch.chdir(tmp_path)
    assert launch_code(sweep, ["--preset", preset, "--dry-run"]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    name = presets(sweep)[preset]["name"]
    assert re.match(rf"sweep {name}-[0-9a-f]{{8}}: \d+ trials( \(\d+ of them paired random-split controls\))?; each ",
                    head), head
    assert not any(tmp_path.iterdir()), "a dry run wrote files"


def test_a_launcher_script_runs_from_another_directory(tmp_path):
    proc = run(str(ROOT / "sweeps" / "rfft_length.py"), "--preset", "smoke", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("sweep rfft-smoke-") and not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv, words", [
    (["--set", "train.lr=-1"], "caseray: error: train.lr:"),
    (["--axis", "tokenizer=[nosuch]"], "caseray: error: tokenizer:"),
    (["--set", "nosuchfield=1"], "caseray: error: nosuchfield:"),
])
def test_launcher_bad_input_exits_2(argv, words, tmp_path):
    proc = run(str(ROOT / "sweeps" / "square_grid.py"), "--dry-run", *argv, cwd=tmp_path)
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_local_hole_check_on_a_tiny_grid(tmp_path):
    """The script behind the findings table runs end to end: trials, the table, the hole-map figure."""
    out = tmp_path / "hc"
    proc = run(str(ROOT / "sweeps" / "local_hole_check.py"), "--high", "9", "--half-width", "1", "--steps", "20",
               "--seeds", "0", "1", "--workers", "2", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith(("number", "digit"))]
    assert [r[:2] for r in rows] == [["number", "square"], ["number", "random"], ["digit", "square"]]
    assert all(r[2] not in ("-", "nan") for r in rows)  # a train accuracy for every condition
    assert (out / "holemaps.png").stat().st_size > 10_000
    assert len(list(out.glob("*/metrics.json"))) == 6


def test_local_hole_check_bad_input_exits_2(tmp_path):
    proc = run(str(ROOT / "sweeps" / "local_hole_check.py"), "--half-width", "60", "--out", str(tmp_path / "x"),
               cwd=tmp_path)
    assert proc.returncode == 2 and "caseray: error: split" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "x").exists()
