import subprocess
import sys

import pytest

from caseray.cli.main import main


def test_show_prints_examples(capsys):
    assert main(["data", "show", "--task", "addition", "--format", "scratchpad", "--a", "59", "--b", "13"]) == 0
    out = capsys.readouterr().out
    assert "59+13,,C:0\n5+1,2,C:1\n+,72,C:0\n72" in out


def test_split_draws_a_png(tmp_path, capsys):
    png = tmp_path / "split.png"
    assert main(["data", "split", "--task", "chicken_rabbit", "--plot", str(png)]) == 0
    assert "train 4609, test 441" in capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_build_writes_the_cache(tmp_path, capsys):
    assert main(["data", "build", "--task", "linear", "--format", "scratchpad", "--cache", str(tmp_path)]) == 0
    assert "10000 rows ->" in capsys.readouterr().out
    assert len(list((tmp_path / "data").glob("*.parquet"))) == 1


def test_spec_file(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("task: {name: mod_addition}\nsplit: {kind: random, test_size: 441}\n")
    assert main(["data", "split", "--spec", str(spec)]) == 0
    assert "test 441" in capsys.readouterr().out


@pytest.mark.parametrize("argv,words", [
    (["data", "show", "--task", "subtraction"], "task.name: unknown task 'subtraction'"),
    (["data", "split", "--center", "95,50"], "split.center"),
    (["data", "build", "--format", "essay", "--task", "chicken_rabbit"], "format: unknown format 'essay'"),
    (["data", "show", "--tokenizer", "sentencepiece"], "tokenizer"),
    (["data", "split", "--data-size", "99999"], "data_size"),
])
def test_bad_input_exits_2_with_the_field(argv, words, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "caseray.cli", *argv, "--cache", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert words in proc.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv,words", [
    (["report", "nosuch", "--tracking-uri", "sqlite:///{tmp}/none.db"], "sweep: sweep 'nosuch' is not in"),
    (["report", "nosuch", "--tracking-uri", "postgres://x"], "tracking_uri: 'postgres://x' is not a supported URI"),
    (["report", "nosuch", "--source", "cloud"], "invalid choice: 'cloud'"),
    (["reproduce", "--quick", "--full"], "not allowed with argument"),
])
def test_report_and_reproduce_refuse_bad_input_and_write_nothing(argv, words, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "caseray.cli", *argv, "--storage", str(tmp_path / "sweeps")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and words in proc.stderr
    assert not any(tmp_path.iterdir())


def test_version_and_close_matches(capsys):
    """``caseray --version``; an unknown key or registry name suggests the one meant."""
    from importlib.metadata import version

    from caseray.cli.main import main

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"caseray {version('caseray')}"
    assert main(["trial", "--set", "split.half_widht=3", "--dry-run"]) == 2
    assert "split.half_widht: unknown key (did you mean 'half_width'?)" in capsys.readouterr().err
    assert main(["trial", "--set", "task.name=additon", "--dry-run"]) == 2
    assert "unknown task 'additon' (did you mean 'addition'?)" in capsys.readouterr().err
    assert main(["trial", "--set", "task.name=zzz", "--dry-run"]) == 2
    assert "did you mean" not in capsys.readouterr().err  # nothing close: no guess


def test_mlflow_tracking_uri_is_honoured(monkeypatch, tmp_path, capsys):
    """flag > the sweep's own > $MLFLOW_TRACKING_URI > sqlite:///mlflow.db, and a dry run says where
    results and runs would go (credentials redacted)."""
    from caseray.cli.common import tracking_uri
    from caseray.cli.main import build_parser
    from caseray.cli.sweep import launch_code

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://u:SEKRIT@127.0.0.1:5999")
    assert launch_code("square_grid", ["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "MLflow runs: http://***@127.0.0.1:5999" in out and "SEKRIT" not in out
    assert launch_code("square_grid", ["--dry-run", "--tracking-uri", "sqlite:///x.db"]) == 0
    assert "MLflow runs: sqlite:///x.db" in capsys.readouterr().out
    assert tracking_uri(build_parser().parse_args(["report", "s"])) == "http://u:SEKRIT@127.0.0.1:5999"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert tracking_uri(build_parser().parse_args(["ui"])) == "sqlite:///mlflow.db"
    assert list(tmp_path.iterdir()) == []
