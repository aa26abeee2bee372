"""Half-written files: a corrupt checkpoint is skipped for the one before it, and a process killed in
the middle of an atomic write leaves no file that is later read as valid (real processes, SIGKILL)."""

import os
import signal
import subprocess
import sys

import pytest
import torch

from caseray.data.datasets import dataset_path, load_dataset
from caseray.train.spec import TrainSpec
from caseray.trial.run import run_trial
from helpers import model_weights, tiny_spec


def test_corrupt_latest_checkpoint_falls_back(tmp_path):
    spec = tiny_spec(train=TrainSpec(steps=20, lr=3e-3, batch_size=32, log_every=5, checkpoint_every=5))
    run_trial(spec, tmp_path / "straight")
    run_trial(spec, tmp_path / "crashed", stop_after=10)
    latest = tmp_path / "crashed" / spec.name / "checkpoints" / "step-00000010" / "state.pt"
    latest.write_bytes(latest.read_bytes()[:1000])  # truncated
    with pytest.warns(UserWarning, match="unreadable"):
        resumed = run_trial(spec, tmp_path / "crashed")
    assert resumed.metrics["train/resumed_from"] == 5  # the checkpoint before the broken one
    a, b = model_weights(tmp_path / "straight" / spec.name), model_weights(tmp_path / "crashed" / spec.name)
    assert all(torch.equal(a[k], b[k]) for k in a)  # and the same end


WRITER = """
import sys, time
from pathlib import Path
from caseray.core.atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    with open(tmp, "wb") as f:
        f.write(b"PAR1" + b"x" * 1_000_000)  # half a file
        f.flush()
        print("half written", flush=True)
        time.sleep(600)
"""


@pytest.mark.parametrize("name", ["cells.parquet", "metrics.json", "state.pt"])
def test_a_write_killed_halfway_leaves_no_file(tmp_path, name):
    target = tmp_path / name
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "half written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not target.exists()  # readers look only at the final name


def test_a_dataset_cache_write_killed_halfway_is_rebuilt(tmp_path):
    """A cache file cut short (as by a crash outside the atomic writer, or a full disk) is detected and
    rebuilt, never read as a dataset."""
    spec = tiny_spec(tokenizer="digit")
    from caseray.data.tokenizers import build_tokenizer

    tok = build_tokenizer(spec.tokenizer)
    table = load_dataset(spec.data_spec(), tokenizer=tok)
    path = dataset_path(spec.data_spec())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.warns(UserWarning):
        again = load_dataset(spec.data_spec(), tokenizer=tok)
    assert again.equals(table)
