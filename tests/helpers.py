"""Small builders shared by tests: tiny trial specs, a tiny local HF checkpoint."""

import contextlib
from pathlib import Path

from caseray.data.splits import SplitSpec
from caseray.data.tasks import TaskSpec
from caseray.train.models import LoraSpec, ModelSpec
from caseray.train.spec import TrainSpec
from caseray.trial.spec import EvalSpec, TrialSpec


def tiny_spec(**overrides) -> TrialSpec:
    """Addition on a 20x20 grid, square (10, 10) h = 3, tiny model, a few steps."""
    base = dict(task=TaskSpec("addition", high=19), split=SplitSpec(center=(10, 10), half_width=3),
                train=TrainSpec(steps=20, lr=3e-3, batch_size=32, log_every=5), eval=EvalSpec(batch_size=256))
    base.update(overrides)
    return TrialSpec(**base)


def draw_cell(task, data) -> tuple[int, int]:
    """A hypothesis-drawn valid cell of ``task``'s grid."""
    from hypothesis import strategies as st

    a, b = task.cells()
    i = data.draw(st.integers(0, len(a) - 1))
    return int(a[i]), int(b[i])


def save_tiny_hf_tokenizer(path: Path) -> None:
    """A byte-level BPE tokenizer trained here on arithmetic text, saved like a real checkpoint's."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator([f"{a}+{b}={a + b}" for a in range(60) for b in range(60)], trainer)
    PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|endoftext|>").save_pretrained(path)


def save_tiny_checkpoint(path: Path, n_embd: int = 64, n_layer: int = 2, n_head: int = 2) -> None:
    """A GPT-2 (random init; 2 layers of width 64 by default) and its tokenizer in one local folder, as a
    user's checkpoint."""
    import transformers

    save_tiny_hf_tokenizer(path)
    tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
    config = transformers.GPT2Config(vocab_size=len(tok), n_positions=128, n_embd=n_embd, n_layer=n_layer,
                                     n_head=n_head,
                                     bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)
    transformers.GPT2LMHeadModel(config).save_pretrained(path)


def ray_train_sweep(tmp_path, backend: str, steps: int = 40, curve_every: int = 0, **resources):
    """A one-trial sweep on 2 Ray Train CPU workers (addition 0-19, digit tokens, a checkpoint every 10 steps;
    a held-out curve every ``curve_every`` steps)."""
    from caseray.core.specs import from_dict
    from caseray.sweep.spec import SweepSpec

    base = {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "tokenizer": "digit",
            "train": {"steps": steps, "batch_size": 32, "log_every": 10, "checkpoint_every": 10}}
    if curve_every:
        base["eval"] = {"curve_every": curve_every}
    return from_dict(SweepSpec, {
        "name": f"rt-{backend}", "storage_path": str(tmp_path / "out"), "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "resources": {"backend": backend, "num_workers": 2, "cpus_per_trial": 2, **resources},
        "base": base, "axes": {"seed": [0]}})


def model_weights(out_dir) -> dict:
    from safetensors.torch import load_file

    return load_file(Path(out_dir) / "model" / "model.safetensors")


def check_one_finished_child(sweep, steps: int, resumed: bool = False) -> None:
    """One parent run, exactly one FINISHED child with every artifact, progress logged once per step
    (by rank 0 only; a resumed run may log the steps after its checkpoint twice)."""
    from caseray.sweep.tracking import Tracker

    tracker = Tracker(sweep.tracking_uri)
    (parent,) = tracker.client.search_runs([tracker.experiment_id], "tags.`caseray.kind` = 'sweep'")
    (child,) = tracker.children(parent.info.run_id)
    assert child.info.status == "FINISHED"
    assert {a.path for a in tracker.client.list_artifacts(child.info.run_id)} == {
        "holemap.png", "holemap.html", "cells.parquet", "spec.json", "metrics.json", "images"}
    (image,) = [a.path for a in tracker.client.list_artifacts(child.info.run_id, "images") if a.path.endswith(".png")]
    assert image.startswith(f"images/hole_map+step+{steps}+")  # the hole map, as an image the UI compares
    assert child.info.run_name == "addition·direct·digit·square·h3·@10,10·tiny·s0"
    assert child.data.tags["axis.seed"] == "0" and child.inputs.dataset_inputs[0].dataset.name.startswith("grid-")
    summary = tracker.client.get_run(parent.info.run_id).data.metrics  # the sweep's, comparable across sweeps
    assert summary["trials"] == 1 and summary["failed"] == 0 and 0 <= summary["test_acc/mean"] <= 1
    logged = [m.step for m in tracker.client.get_metric_history(child.info.run_id, "train/loss")]
    assert sorted(set(logged)) == list(range(10, steps + 1, 10))
    if not resumed:
        assert len(logged) == len(set(logged))


__all__ = ["tiny_spec", "ray_train_sweep", "model_weights", "check_one_finished_child",
           "save_tiny_hf_tokenizer", "save_tiny_checkpoint", "LoraSpec", "ModelSpec"]


def run_metrics(job):
    """Run one trial in a worker process and return its metrics (for process pools)."""
    from caseray.trial.run import run_trial

    spec, out = job
    return run_trial(spec, out).metrics


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(folder: Path):
    """``caseray ui`` (an MLflow server on 127.0.0.1, a sqlite store and proxied artifacts in
    ``folder``) for one test; yields (its URI, its process)."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "caseray.cli", "ui", "--tracking-uri",
                             f"sqlite:///{folder}/mlflow.db", "--port", str(port)], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, "the MLflow server did not come up"
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


S3_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


@contextlib.contextmanager
def s3_server(bucket: str = "sweeps"):
    """A local S3 (moto's server on 127.0.0.1) holding one empty bucket; yields the environment
    (fake keys and the endpoint) a process needs to reach it through pyarrow, as for MinIO."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, "the S3 server did not come up"
                time.sleep(0.2)
        env = {**S3_ENV, "AWS_ENDPOINT_URL": endpoint}
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", method="PUT")).close()
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def stop_ray_head(port: int, timeout: float = 30.0) -> list[int]:
    """Stop the local Ray cluster whose GCS listens on ``port`` -- its processes only (``ray stop``
    would end every Ray of this user on the machine, a running sweep included). Its workers exit
    with their raylets. Returns the pids signalled."""
    import os
    import re
    import signal
    import time

    mark = re.compile(rb"(:|--gcs_server_port=)%d(?!\d)" % port)  # the GCS address, however the node is named
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                if mark.search((proc / "cmdline").read_bytes().replace(b"\0", b" ")):
                    pids.append(int(proc.name))
            except OSError:
                continue
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.time() + timeout / 2
        while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
            time.sleep(0.2)
    current = Path("/tmp/ray/ray_current_cluster")  # what `ray stop` also removes: ray.init() would join it
    with contextlib.suppress(OSError):
        if re.search(rb":%d$" % port, current.read_bytes().strip()):
            current.unlink()
    return pids
