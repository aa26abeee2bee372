"""Progress bars: shown on a terminal (or when CASERAY_PROGRESS=1), silent in logs and CI (stderr not a
terminal) and with CASERAY_PROGRESS=0; only after DELAY_S of work; on every long job that has one."""

import io
import json
import random
import sys
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import caseray.core.progress as progress_module
from caseray.core.errors import SpecError
from caseray.core.progress import progress
from caseray.core.specs import from_dict
from caseray.data.datasets import GridDataSpec, load_dataset
from caseray.data.formats import get_format
from caseray.data.tasks import TaskSpec, build_task
from caseray.data.tokenizers import build_tokenizer
from caseray.lema.rows import plant_many
from caseray.train.batches import make_batchable
from caseray.train.evaluate import generate, teacher_forced
from caseray.train.models import ModelSpec, build_model

CPU = torch.device("cpu")
SMALL = {"task": {"high": 9}, "format": "direct", "tokenizer": "digit", "split": {"kind": "random"}}


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr on a console does."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def at_once(monkeypatch):
    """No delay before a bar appears (the default hides work shorter than DELAY_S seconds), and every
    update drawn."""
    monkeypatch.setattr(progress_module, "DELAY_S", 0.0)
    monkeypatch.setattr(progress_module, "MININTERVAL_S", 0.0)


@pytest.fixture
def forced(monkeypatch, at_once):
    monkeypatch.setenv("CASERAY_PROGRESS", "1")


def count(n: int, desc: str = "counting") -> int:
    return sum(1 for _ in progress(range(n), desc, unit="thing"))


def test_forced_bars_are_written_to_stderr_even_when_it_is_no_terminal(forced, capsys):
    assert count(7) == 7
    out = capsys.readouterr()
    assert "counting" in out.err and "7/7" in out.err and out.out == ""


def test_no_terminal_and_no_override_writes_nothing(monkeypatch, at_once, capsys):
    monkeypatch.delenv("CASERAY_PROGRESS", raising=False)
    assert not sys.stderr.isatty()  # pytest's captured stderr: what a log file or CI sees
    assert count(7) == 7
    assert capsys.readouterr().err == ""


def test_a_terminal_shows_bars_and_zero_silences_them(monkeypatch, at_once):
    monkeypatch.delenv("CASERAY_PROGRESS", raising=False)
    shown = Terminal()
    monkeypatch.setattr(sys, "stderr", shown)
    count(7)
    assert "counting" in shown.getvalue()  # the control: a terminal gets a bar
    silenced = Terminal()
    monkeypatch.setattr(sys, "stderr", silenced)
    monkeypatch.setenv("CASERAY_PROGRESS", "0")
    count(7)
    assert silenced.getvalue() == ""


def test_short_work_prints_nothing_before_the_delay(monkeypatch, capsys):
    monkeypatch.setenv("CASERAY_PROGRESS", "1")
    assert progress_module.DELAY_S >= 1
    count(1000)
    from_dict(GridDataSpec, SMALL).build(build_tokenizer("digit"))  # relabelled midway: still nothing
    assert capsys.readouterr().err == ""


def test_a_bar_updated_by_hand(forced, capsys):
    with progress(None, "by hand", total=10, unit="row") as bar:
        for _ in range(5):
            bar.update(2)
    assert "by hand" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["yes", "2", "true"])
def test_a_bad_setting_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("CASERAY_PROGRESS", value)
    with pytest.raises(SpecError) as err:
        count(1)
    assert err.value.field == "CASERAY_PROGRESS"


# --- the long jobs --------------------------------------------------------------------------------

def test_a_dataset_build_shows_its_bar_and_builds_the_same_table(forced, monkeypatch, capsys):
    spec = from_dict(GridDataSpec, SMALL)
    tok = build_tokenizer(spec.tokenizer)
    with_bar = spec.build(tok)
    err = capsys.readouterr().err
    assert "addition direct: writing" in err and "100/100" in err and "tokenizing" in err
    monkeypatch.setenv("CASERAY_PROGRESS", "0")
    assert spec.build(tok).equals(with_bar)
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def tiny():
    tok = build_tokenizer("digit")
    table = from_dict(GridDataSpec, SMALL).build(tok)
    data = make_batchable(table, tok.bos_id, tok.pad_id)
    torch.manual_seed(0)
    return tok, table, data, build_model(ModelSpec(), tok, int(data.lengths.max()) + 8)


def test_evaluation_and_sampling_show_their_bars(forced, tiny, capsys):
    tok, table, data, model = tiny
    teacher_forced(model, data, 32, CPU)
    assert "evaluating (teacher-forced)" in capsys.readouterr().err
    generate(model, table.slice(0, 8), tok, CPU, batch_size=4)
    assert "decoding (greedy)" in capsys.readouterr().err
    generate(model, table.slice(0, 8), tok, CPU, batch_size=4, samples=2)
    assert "sampling (2 per row)" in capsys.readouterr().err


def test_lema_planting_shows_its_bar(forced, capsys):
    task = build_task(TaskSpec(high=9))
    cot = pa.table({"a": [3, 7, 8], "b": [9, 5, 6]})
    planted = plant_many(get_format("scratchpad"), task, cot, 4, (), random.Random(0), Counter())
    assert len(planted) == 4
    err = capsys.readouterr().err
    assert "LEMA: planting mistakes" in err and "4/4" in err


def test_plan_shows_a_bar_per_trial(forced, capsys):
    from caseray.report.plan import make_plan
    from caseray.sweep.spec import SweepSpec

    sweep = from_dict(SweepSpec, {"name": "bars", "base": {"task": {"high": 9}, "split": {"kind": "random"}},
                                  "axes": {"seed": [0, 1]}})
    make_plan(sweep)
    err = capsys.readouterr().err
    assert f"planning {sweep.id}" in err and "2/2" in err


def test_mlflow_downloads_show_a_bar_per_trial(forced, monkeypatch, tmp_path, capsys):
    from caseray.sweep.results import from_mlflow
    from caseray.sweep.tracking import Tracker
    from caseray.trial.result import TrialResult
    from caseray.trial.spec import TrialSpec

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri)
    parent = tracker.parent_run("bars-0123abcd", {"name": "bars"})
    for seed in (0, 1):
        spec = from_dict(TrialSpec, {"task": {"high": 9}, "split": {"kind": "random"}, "seed": seed})
        out = tmp_path / "trials" / spec.name
        out.mkdir(parents=True)
        (out / "spec.json").write_text(json.dumps(spec.to_dict()))
        (out / "metrics.json").write_text(json.dumps({"test_acc": 0.5}))
        pq.write_table(load_dataset(spec.data_spec()).select(["a", "b", "split"]), out / "cells.parquet")
        tracker.finish_trial(tracker.child_run(parent, "bars-0123abcd", spec), TrialResult(spec.name, out, {}))
    tracker.end_sweep(parent, ok=True)
    capsys.readouterr()
    sweep_id, records = from_mlflow(uri, "bars", tmp_path / "downloads")
    assert sweep_id == "bars-0123abcd" and len(records) == 2
    err = capsys.readouterr().err
    assert "downloading trials from MLflow" in err and "2/2" in err
    assert "Downloading artifacts" not in err  # MLflow's own bar per file is off: one per trial is caseray's
    monkeypatch.delenv("CASERAY_PROGRESS")
    assert len(from_mlflow(uri, "bars", tmp_path / "again")[1]) == 2
    assert "ownloading" not in capsys.readouterr().err  # a log or CI job: no bars at all
