import json
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.datasets import load_dataset
from caseray.data.formats import get_format
from caseray.data.tasks import build_task
from caseray.data.tokenizers import build_tokenizer
from caseray.train.batches import make_batchable
from caseray.train.evaluate import generate, teacher_forced, wrong_line
from caseray.train.loop import local_engine, train
from caseray.train.models import LoraSpec, ModelSpec, build_model, count_parameters
from caseray.train.spec import TrainSpec
from caseray.trial.cells import CUT, clip, greedy_outputs, most_common_wrong
from caseray.trial.run import run_trial
from caseray.trial.spec import TrialSpec
from helpers import save_tiny_checkpoint, tiny_spec


def test_trial_writes_every_output(tmp_path):
    spec = tiny_spec()
    reports = []
    start = time.perf_counter()
    result = run_trial(spec, tmp_path, on_report=lambda step, m: reports.append((step, m)))
    wall = time.perf_counter() - start
    out = tmp_path / spec.name
    assert result.out_dir == out
    for name in ("spec.json", "metrics.json", "cells.parquet", "holemap.png", "holemap.html", "tokenizer", "model"):
        assert (out / name).exists(), name
    assert json.loads((out / "spec.json").read_text()) == spec.to_dict()
    cells = pq.read_table(out / "cells.parquet")
    assert cells.num_rows == 400 and {"a", "b", "split", "ring", "dist_train", "accuracy",
                                      "first_wrong_step"} <= set(cells.column_names)
    m = result.metrics
    acc, split = cells["accuracy"].to_numpy(), cells["split"].to_numpy(zero_copy_only=False)
    assert m["test_acc"] == pytest.approx(acc[split == "test"].mean())
    assert m["n_test"] == 49 and m["hole_size"] == int((acc[split == "test"] < 0.5).sum())
    assert [s for s, _ in reports[:4]] == [5, 10, 15, 20] and "train/loss" in reports[0][1]
    assert (out / "holemap.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "holemap.html").read_text()  # one offline page: plotly's code once, nothing fetched
    assert page.count("plotly.js v") == 1 and "<script src" not in page and 'id="holemap"' in page
    # where the time went: every phase timed, together nearly all of the trial's wall time
    phases = {k: v for k, v in m.items() if k.startswith("time/")}
    assert set(phases) == {f"time/{p}_s" for p in ("dataset", "fit", "teacher_forced", "greedy", "write")}
    assert all(v >= 0 for v in phases.values()) and 0.8 * wall <= sum(phases.values()) <= wall
    assert phases["time/fit_s"] >= m["train/steps"] * 0.001  # 20 steps of a real model take time
    # finished trials are not run again
    assert run_trial(spec, tmp_path).metrics == m


def test_resume_is_bit_identical_on_cpu(tmp_path):
    spec = tiny_spec(train=TrainSpec(steps=20, lr=3e-3, batch_size=32, log_every=5, checkpoint_every=5))
    run_trial(spec, tmp_path / "straight")
    run_trial(spec, tmp_path / "crashed", stop_after=12)  # dies after step 12; checkpoint at 10
    ckpts = sorted(p.name for p in (tmp_path / "crashed" / spec.name / "checkpoints").iterdir())
    assert ckpts == ["step-00000005", "step-00000010"]
    resumed = run_trial(spec, tmp_path / "crashed")
    assert resumed.metrics["train/steps"] == 20
    a = load_file(tmp_path / "straight" / spec.name / "model" / "model.safetensors")
    b = load_file(tmp_path / "crashed" / spec.name / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert pq.read_table(tmp_path / "straight" / spec.name / "cells.parquet").equals(
        pq.read_table(tmp_path / "crashed" / spec.name / "cells.parquet"))


@pytest.fixture(scope="module")
def half_trained(tmp_path_factory):
    """A tiny model trained briefly on scratchpad addition 0-19: right on some cells, wrong on others."""
    import os

    os.environ["CASERAY_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    spec = tiny_spec(format="scratchpad", tokenizer="digit")
    tok = build_tokenizer(spec.tokenizer)
    table = load_dataset(spec.data_spec(), tokenizer=tok)
    data = make_batchable(table, tok.bos_id, tok.pad_id)
    torch.manual_seed(0)
    model = build_model(spec.model, tok, int(data.lengths.max()))
    ts = TrainSpec(steps=150, lr=3e-3, batch_size=64, log_every=1000)
    train(local_engine(model, ts, 150, torch.device("cpu")), data, ts, 150, 0)
    return spec, tok, table, data, model


@pytest.mark.slow
def test_teacher_forcing_equals_generate(half_trained):
    spec, tok, table, data, model = half_trained
    correct, first_bad, predicted, _ = teacher_forced(model, data, 128, torch.device("cpu"))
    generated = generate(model, table, tok, torch.device("cpu"), batch_size=128)
    targets = table["target_ids"].to_pylist()
    same = np.array([g[0] == t for g, t in zip(generated, targets)])
    assert 0.1 < correct.mean() < 0.95  # the model gets some cells right and some wrong
    assert np.array_equal(correct, same)
    task, fmt = build_task(spec.task), get_format(spec.format)
    a, b = table["a"].to_pylist(), table["b"].to_pylist()
    for i in np.flatnonzero(~correct):
        text = tok.decode(generated[i][0])
        want = fmt.first_wrong_step(task, a[i], b[i], text)
        assert wrong_line(tok, targets[i], int(first_bad[i]), int(predicted[i])) == want, (i, text)


@pytest.mark.parametrize("wrap", ["plain", "no_logits_to_keep"])
@pytest.mark.slow
def test_logits_only_where_scored_change_nothing(half_trained, wrap):
    """The LM head at target columns only gives the same flags, positions, tokens and step accuracy as
    the head everywhere; a model that cannot keep logits (a wrapper hiding the argument) falls back."""
    spec, tok, table, data, model = half_trained

    class Hidden(torch.nn.Module):  # forward(**kwargs): no logits_to_keep in its signature
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, **kwargs):
            assert "logits_to_keep" not in kwargs
            return self.inner(**kwargs)

    used = model if wrap == "plain" else Hidden(model)
    ends = tok.line_end_ids()
    kept = teacher_forced(used, data, 100, torch.device("cpu"), newline_ids=ends)
    full = teacher_forced(model, data, 100, torch.device("cpu"), newline_ids=ends, only_scored=False)
    assert 0 < kept.correct.sum() < len(kept.correct)  # right and wrong rows both compared
    for got, want in zip(kept, full):
        assert np.array_equal(got, want)


@pytest.mark.slow
def test_sampling_at_low_temperature_agrees_with_greedy(half_trained):
    spec, tok, table, data, model = half_trained
    fmt = get_format(spec.format)
    answers = table["answer"].to_pylist()

    def accuracy(draws):
        return np.array([np.mean([fmt.parse(tok.decode(d)).answer == answers[i] for d in draws[i]])
                         for i in range(len(draws))])

    greedy = generate(model, table, tok, torch.device("cpu"), batch_size=256)
    draws = generate(model, table, tok, torch.device("cpu"), batch_size=256, samples=3, temperature=0.001)
    assert all(len(d) == 3 for d in draws)
    assert 0.1 < accuracy(greedy).mean() < 0.95
    # nearly greedy: the same completions, except where this half-trained model has near-ties
    assert np.mean([all(x == greedy[i][0] for x in d) for i, d in enumerate(draws)]) > 0.95
    hot = generate(model, table, tok, torch.device("cpu"), batch_size=256, samples=3, temperature=3.0)
    assert sum(len(set(map(tuple, d))) > 1 for d in hot) > len(hot) // 2  # hot samples differ


def test_trial_with_sampled_evaluation(tmp_path):
    spec = from_dict(TrialSpec, {**tiny_spec().to_dict(), "eval": {"samples": 2, "temperature": 1.0}})
    result = run_trial(spec, tmp_path)
    cells = pq.read_table(result.cells_path)
    assert set(np.unique(cells["sample_acc"].to_numpy())) <= {0.0, 0.5, 1.0}
    # accuracy stays the greedy exact match: sampling adds its own names, never changes this one
    assert np.array_equal(cells["accuracy"].to_numpy(), cells["greedy_correct"].to_numpy().astype(float))
    m = result.metrics
    assert m["exact_acc"] == m["test_acc"] and "answer_acc" in m
    test = cells["split"].to_numpy(zero_copy_only=False) == "test"
    assert m["sample_test_acc"] == pytest.approx(cells["sample_acc"].to_numpy()[test].mean())
    # the commonest wrong sampled answer: null exactly where both samples were right, never the answer
    wrong = cells["sample_wrong"].to_pylist()
    assert [w is None for w in wrong] == (cells["sample_acc"].to_numpy() == 1.0).tolist()
    assert all(w != str(a + b) for w, a, b in zip(wrong, cells["a"].to_pylist(), cells["b"].to_pylist()))


@pytest.mark.slow
def test_greedy_answer_accuracy_is_the_parsed_greedy_answer(half_trained):
    """answer_correct decodes only the inexact rows; it must equal parsing a full greedy decode of
    every row, and differ from exact match where steps are wrong but the answer right (or the reverse
    cannot happen: an exact row's answer is right). The outputs kept are those decodes' texts."""
    spec, tok, table, data, model = half_trained
    correct, *_ = teacher_forced(model, data, 128, torch.device("cpu"))
    fast, outputs = greedy_outputs(spec, model, table, tok, torch.device("cpu"), correct)
    fmt, answers = get_format(spec.format), table["answer"].to_pylist()
    texts = [tok.decode(g[0]) for g in generate(model, table, tok, torch.device("cpu"), batch_size=128)]
    full = [fmt.parse(text).answer == answers[i] for i, text in enumerate(texts)]
    assert np.array_equal(fast, np.array(full))
    assert not (correct & ~fast).any() and fast.mean() >= correct.mean()
    assert [o is None for o in outputs] == correct.tolist()
    assert all(o == t[:400] for o, t in zip(outputs, texts) if o is not None)
    assert any("\n" in o for o in outputs if o)  # scratchpad outputs: whole solutions, lines and all


@pytest.mark.slow
def test_cells_keep_the_greedy_output_of_every_wrong_cell(tmp_path):
    """``output``: null exactly where greedy exact match holds, elsewhere what the saved model says
    greedily (decoded here from the model transformers loads, not from the trial's own one)."""
    from transformers import AutoModelForCausalLM

    spec = tiny_spec(tokenizer="digit", train=TrainSpec(steps=150, lr=3e-3, batch_size=64, log_every=1000))
    result = run_trial(spec, tmp_path)
    cells = pq.read_table(result.cells_path)
    exact = cells["greedy_correct"].to_numpy(zero_copy_only=False)
    assert 0.05 < exact.mean() < 0.95  # some cells right, some wrong
    tok = build_tokenizer(spec.tokenizer)
    model = AutoModelForCausalLM.from_pretrained(result.out_dir / "model")
    table = load_dataset(spec.data_spec(), tokenizer=tok)
    assert cells["a"].to_pylist() == table["a"].to_pylist() and cells["b"].to_pylist() == table["b"].to_pylist()
    said = [g[0] for g in generate(model, table, tok, torch.device("cpu"), batch_size=256)]
    targets = table["target_ids"].to_pylist()
    outputs = cells["output"].to_pylist()
    assert [o is None for o in outputs] == [s == t for s, t in zip(said, targets)]
    wrong = [(o, tok.decode(s)) for o, s in zip(outputs, said) if o is not None]
    assert all(o == text for o, text in wrong) and len({o for o, _ in wrong}) > 3  # varied wrong answers
    # a cell the test can check by hand: its output is neither its target nor empty where it differs
    a, b, o = next((a, b, o) for a, b, o in zip(cells["a"].to_pylist(), cells["b"].to_pylist(), outputs) if o)
    assert o != str(a + b)


def test_most_common_wrong_answer():
    assert most_common_wrong(["12", "13", "13", "14"], "12") == "13"
    assert most_common_wrong(["12", "12"], "12") is None
    assert most_common_wrong(["5", "6"], "7") == "5"  # a tie: the first said
    assert most_common_wrong(["", "", "3"], "7") == ""  # an empty answer is an answer
    long = most_common_wrong(["9" * 1000], "7")
    assert long == "9" * 400 + CUT


def test_clip_bounds_an_output():
    assert clip("abc") == "abc" and clip("x" * 400) == "x" * 400
    assert clip("x" * 401) == "x" * 400 + CUT and len(clip("y" * 10**5)) == 400 + len(CUT)


def test_local_checkpoint_with_lora(tmp_path):
    ckpt = tmp_path / "my-gpt2"
    save_tiny_checkpoint(ckpt)
    spec = tiny_spec(model=ModelSpec(scale=f"path:{ckpt}", lora=LoraSpec(rank=4, alpha=8)),
                     tokenizer=f"hf:{ckpt}")
    tok = build_tokenizer(spec.tokenizer)
    model = build_model(spec.model, tok, 32)
    trainable = count_parameters(model, trainable_only=True)
    assert 0 < trainable < count_parameters(model) // 10
    assert all("lora" in n for n, p in model.named_parameters() if p.requires_grad)
    result = run_trial(spec, tmp_path / "out")
    assert result.metrics["train/steps"] == 20
    assert (result.out_dir / "model" / "adapter_model.safetensors").exists()


def test_lora_on_a_registered_scale_trains_only_adapters():
    tok = build_tokenizer("digit")
    for scale in ("tiny", "llama-tiny"):
        model = build_model(ModelSpec(scale=scale, lora=LoraSpec()), tok, 32)
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        assert names and all("lora_" in n for n in names)


@pytest.mark.parametrize("scale,low,high", [("tiny", 0.3e6, 0.7e6), ("small", 2e6, 4e6), ("base", 8e6, 12e6),
                                            ("gpt2-124m", 80e6, 130e6), ("llama-tiny", 0.3e6, 1e6)])
def test_scales_have_their_sizes(scale, low, high):
    n = count_parameters(build_model(ModelSpec(scale=scale), build_tokenizer("number"), 64))
    assert low <= n <= high


def test_rope_model_trains(tmp_path):
    result = run_trial(tiny_spec(model=ModelSpec(scale="llama-tiny")), tmp_path)
    assert result.metrics["train/final_loss"] < 3.0


@pytest.mark.parametrize("data,field", [
    ({"train": {"lr": 0}}, "train.lr"),
    ({"train": {"steps": 10, "epochs": 1}}, "train.steps"),
    ({"train": {"schedule": "exp"}}, "train.schedule"),
    ({"train": {"precision": "fp8"}}, "train.precision"),
    ({"eval": {"samples": -1}}, "eval.samples"),
    ({"eval": {"greedy": False}}, "eval.greedy"),
    ({"model": {"scale": "gpt5"}}, "model.scale"),
    ({"model": {"scale": "path:/no/such/dir"}}, "model.scale"),
    ({"model": {"lora": {"rank": 0}}}, "model.lora.rank"),
    ({"device": "tpu"}, "device"),
    ({"threads": 0}, "threads"),
    ({"trian": {}}, "trian"),
])
def test_bad_trial_specs(data, field):
    with pytest.raises(SpecError) as err:
        from_dict(TrialSpec, data)
    assert err.value.field == field, str(err.value)


def test_local_model_needs_its_tokenizer(tmp_path):
    save_tiny_checkpoint(tmp_path / "ck")
    with pytest.raises(SpecError, match="tokenizer.*hf:"):
        TrialSpec(model=ModelSpec(scale=f"path:{tmp_path / 'ck'}"))


def test_names_come_from_hashes():
    a, b = tiny_spec(), tiny_spec(threads=2)
    assert a.name == b.name and a.name.startswith("addition-direct-number-square-")
    assert tiny_spec(seed=1).name != a.name


def test_cli_trial(tmp_path):
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "caseray.cli", "trial", "--set", "task.high=19",
                           "--set", "split.half_width=3", "--set", "train.steps=10", "--set", "train.log_every=5",
                           "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "step 10: loss" in proc.stdout and "exact match: train" in proc.stdout and "holemap.png" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "caseray.cli", "trial", "--set", "split.center=[2,2]",
                          "--out", str(tmp_path / "bad")], capture_output=True, text=True)
    assert bad.returncode == 2 and "split.center" in bad.stderr and not (tmp_path / "bad").exists()


def test_bf16_autocast_trains_on_cpu(tmp_path):
    spec = tiny_spec(train=TrainSpec(steps=20, lr=3e-3, batch_size=32, log_every=5, precision="bf16"))
    losses = []
    run_trial(spec, tmp_path, on_report=lambda s, m: losses.append(m.get("train/loss")))
    losses = [x for x in losses if x is not None]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
