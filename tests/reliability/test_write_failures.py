"""Output paths and the machine's refusals to write.

Up front (exit 2, the field named, nothing written): an output path that is a file, lies inside a file,
is on a read-only file system or is not writable by this user. Mid-run (exit 74, one line naming the
path and what was being written, no traceback, a folder that a rerun finishes): disk full (a real
600 KB tmpfs where this machine may mount one; /dev/full; injected errors), a read-only file system,
permission lost. In a sweep, a refused write is the failed trial's one-line error.
"""

import contextlib
import errno
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from caseray.cli.main import main
from caseray.core.errors import SpecError, WriteFailed
from caseray.core.paths import check_output_folder, os_error, writing
from caseray.sweep.ray import error_text

TINY = ["--set", "task.high=9", "--set", "split.center=[5, 5]", "--set", "split.half_width=1",
        "--set", "train.steps=2"]


def files_under(path: Path) -> list:
    return sorted(p.relative_to(path) for p in path.rglob("*"))


@contextlib.contextmanager
def tmpfs(path: Path, *options: str):
    """A real tmpfs mounted at ``path`` (skips where this machine may not mount one)."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def run_cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "caseray", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_an_out_that_is_a_file_or_inside_one_is_refused_up_front(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    afile = tmp_path / "results"
    afile.write_text("keep me")
    for out, words in ((afile, "is a file, not a folder"), (afile / "trials", "lies inside")):
        assert main(["trial", "--out", str(out), *TINY]) == 2
        err = capsys.readouterr().err
        assert "error: --out:" in err and words in err and "Traceback" not in err
    assert files_under(tmp_path) == [Path("results")] and afile.read_text() == "keep me"


def test_a_sweeps_storage_that_is_a_file_is_refused_before_ray_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "store").write_text("")
    assert main(["sweep", "run", "square_grid", "--preset", "smoke", "--storage", "store"]) == 2
    assert "error: storage_path:" in capsys.readouterr().err
    assert files_under(tmp_path) == [Path("store")]


def test_a_report_out_inside_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["report", "any-sweep", "--storage", str(tmp_path), "--out", str(tmp_path / "f" / "r")]) == 2
    assert "error: --out:" in capsys.readouterr().err


def test_a_read_only_file_system_is_refused_up_front(tmp_path):
    with tmpfs(tmp_path / "ro", "ro", "size=1m") as ro:
        with pytest.raises(SpecError, match="read-only file system"):
            check_output_folder(ro / "trials", "--out")


def test_a_folder_this_user_cannot_write_or_reach_is_refused_up_front():
    if os.getuid() != 0:
        pytest.skip("needs root to run the check as another user")
    base = Path(tempfile.mkdtemp(dir="/tmp"))  # (pytest's folders are root's alone: nobody cannot reach them)
    try:
        os.chmod(base, 0o755)
        (base / "locked").mkdir(mode=0o755)
        (base / "private").mkdir(mode=0o700)
        for out, words in (("locked/out", "is not writable by this user"), ("private/out", "cannot be reached")):
            code = f"from caseray.core.paths import check_output_folder\ncheck_output_folder({str(base / out)!r}, 'x')"
            nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            done = subprocess.run([*nobody, sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                                  env={**os.environ, "HOME": "/"})
            assert done.returncode == 1 and "SpecError" in done.stderr and words in done.stderr, done.stderr
    finally:
        shutil.rmtree(base)


def test_what_the_machine_refuses_becomes_one_line_and_the_rest_is_raised(tmp_path):
    if Path("/dev/full").is_char_device():  # a real device that is always full (never create a file there)
        with pytest.raises(WriteFailed, match=r"could not write .*w.bin \(a test file\): No space left on device"):
            with writing(tmp_path / "w.bin", "a test file"), open("/dev/full", "wb") as f:
                f.write(b"x" * 65536)
    with pytest.raises(WriteFailed, match="Read-only file system"):
        with writing(tmp_path, "x"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    with pytest.raises(FileNotFoundError):  # not the machine refusing: a bug, raised as it is
        with writing(tmp_path, "x"):
            open(tmp_path / "missing" / "f")
    with pytest.raises(ValueError):
        with writing(tmp_path, "x"):
            raise ValueError("no errno")


def test_safetensors_refused_write_is_recognised(tmp_path):
    """A real refusal on any machine: a file-size limit (RLIMIT_FSIZE) makes the write fail with EFBIG."""
    code = (f"import resource, signal, torch\nfrom safetensors.torch import save_file\n"
            f"from caseray.core.paths import writing\n"
            f"signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            f"resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
            f"with writing({str(tmp_path / 'model')!r}, 'the trained model'):\n"
            f"    save_file({{'w': torch.zeros(1 << 16)}}, {str(tmp_path / 'model.safetensors')!r})\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "WriteFailed: could not write" in done.stderr and os.strerror(errno.EFBIG) in done.stderr, done.stderr
    assert os_error(ValueError("(os error 28)")) is None  # only safetensors' own type is read as text


@pytest.mark.parametrize("where, code", [("caseray.trial.run.write_parquet_atomic", errno.ENOSPC),
                                         ("caseray.trial.run.write_text_atomic", errno.EACCES)])
def test_an_injected_failure_mid_trial_is_one_line_and_a_rerun_finishes(where, code, tmp_path, capsys, monkeypatch):
    import importlib

    module, name = where.rsplit(".", 1)
    real = getattr(importlib.import_module(module), name)
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        if any(str(a).endswith(("cells.parquet", "metrics.json")) for a in args):
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(where, refuse)
    assert main(["trial", "--out", "out", *TINY]) == WriteFailed.EXIT_CODE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and os.strerror(code) in err and "Traceback" not in err
    (folder,) = (tmp_path / "out").iterdir()
    assert not (folder / "metrics.json").exists()  # not taken for finished
    monkeypatch.setattr(where, real)
    assert main(["trial", "--out", "out", *TINY]) == 0
    assert (folder / "metrics.json").exists()


@pytest.mark.slow
def test_a_real_full_disk_mid_trial_then_a_rerun_with_room(tmp_path):
    with tmpfs(tmp_path / "small", "size=600k") as small:
        done = run_cli("trial", "--out", str(small), *TINY, "--set", "save_model=true", cwd=tmp_path)
        assert done.returncode == 74, done.stderr
        # (the first write past 600k: the interactive hole map, ~5 MB of inlined plotly, or the model)
        assert "No space left on device" in done.stderr
        assert "(the trial's interactive hole map)" in done.stderr or "(the trained model)" in done.stderr
        assert "Traceback" not in done.stderr
        (folder,) = small.iterdir()
        assert not (folder / "metrics.json").exists()
        subprocess.run(["mount", "-o", "remount,size=64m", str(small)], check=True)
        done = run_cli("trial", "--out", str(small), *TINY, "--set", "save_model=true", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert (folder / "metrics.json").exists() and (folder / "model" / "model.safetensors").exists()
        assert (folder / "holemap.html").stat().st_size > 0


def test_a_sweep_shows_a_refused_write_as_its_one_line_wherever_ray_wrapped_it():
    import ray.exceptions

    refused = WriteFailed("/nfs/trials/x/cells.parquet", "every cell's outputs", "No space left on device")
    try:
        raise refused
    except WriteFailed as err:
        wrapped = ray.exceptions.RayTaskError("fn", "Traceback (most recent call last): ...", err)
    posing = wrapped.as_instanceof_cause()  # what Ray raises: a copy that is also a WriteFailed
    for error in (wrapped, posing):
        assert error_text(error) == f"WriteFailed: {refused}"
    assert error_text(RuntimeError("boom")) == "boom" and error_text(None) is None
