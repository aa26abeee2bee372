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


def leaf_parsers(parser, words=()):
    """(command words, parser) of every runnable command."""
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield words, parser
    for action in subs:
        for name, sub in action.choices.items():
            yield from leaf_parsers(sub, (*words, name))


def test_every_help_ends_with_examples_that_parse(capsys):
    """Each command's --help ends with two or three examples, and each is a command line this CLI takes."""
    import shlex

    from caseray.cli.main import build_parser

    leaves = list(leaf_parsers(build_parser()))
    assert len(leaves) >= 15
    for words, parser in leaves:
        text = parser.format_help()
        examples = text.split("\nexamples:\n")[-1].split("\n\n")[0].strip().splitlines()
        assert 2 <= len(examples) <= 3 and "\nexamples:\n" in text, words
        for example in examples:
            argv = shlex.split(example.split(">")[0])
            assert argv[:1 + len(words)] == ["caseray", *words], example
            build_parser().parse_args(argv[1:])  # argparse exits 2 on a line it does not take
    top = build_parser().format_help().split("\nexamples:\n")[-1].split("\n")
    assert any(line.strip() == "caseray spec show trial" for line in top)


def test_spec_show_prints_every_field_with_its_default(capsys):
    """The printed trial spec loads back as the default spec; every registered choice is listed; the
    flat keys are what --set takes, and set to their defaults change nothing."""
    from caseray.cli.common import apply_sets
    from caseray.core.plain_data import load_yaml
    from caseray.core.specs import from_dict
    from caseray.data.formats import FORMATS
    from caseray.data.tasks import TASKS
    from caseray.sweep.spec import SweepSpec
    from caseray.train.models import SCALES
    from caseray.trial.spec import TrialSpec

    assert main(["spec", "show", "trial"]) == 0
    text = capsys.readouterr().out
    assert from_dict(TrialSpec, load_yaml(text, "spec")) == TrialSpec()
    lines = {line.split(":")[0].strip(): line for line in text.splitlines()}
    for names, key in ((TASKS.names(), "name"), (FORMATS.names(), "format"), (SCALES.names(), "scale")):
        assert all(n in lines[key].split("one of:")[1] for n in names), key
    assert "#   error_kinds: []" in text  # an unset group's fields, commented out

    assert main(["spec", "show", "trial", "--flat"]) == 0
    flat = capsys.readouterr().out.split()
    unset_groups = ("lengths.", "lema.", "format_options.", "model.lora.", "init.")
    assert {f.split("=")[0] for f in flat} >= {"train.lr", "split.half_width", "model.positions", "lema.ablation"}
    assert from_dict(TrialSpec, apply_sets({}, [f for f in flat if not f.startswith(unset_groups)])) == TrialSpec()

    assert main(["spec", "show", "sweep"]) == 0
    assert from_dict(SweepSpec, load_yaml(capsys.readouterr().out, "spec")) == SweepSpec()
    assert main(["spec", "show", "model"]) == 2
    assert "kind: 'model' is not a spec (allowed: trial, sweep)" in capsys.readouterr().err


def test_the_examples_folder_runs(tmp_path, monkeypatch, capsys):
    """examples/trial.yaml and examples/sweep.yaml are valid as shipped (what the README points at)."""
    from pathlib import Path

    examples = Path(__file__).resolve().parents[1] / "examples"
    monkeypatch.chdir(tmp_path)
    assert main(["trial", "--spec", str(examples / "trial.yaml"), "--dry-run"]) == 0
    assert "valid; it would write" in capsys.readouterr().out
    assert main(["sweep", "run", str(examples / "sweep.yaml"), "--dry-run"]) == 0
    assert "12 trials (6 of them paired random-split controls)" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_python_m_caseray_is_the_command():
    out = subprocess.run([sys.executable, "-m", "caseray", "spec", "show", "sweep", "--flat"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "resources.backend=inline" in out.stdout.split()
    bad = subprocess.run([sys.executable, "-m", "caseray", "spec", "show", "nothing"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "kind: 'nothing' is not a spec" in bad.stderr and "Traceback" not in bad.stderr
