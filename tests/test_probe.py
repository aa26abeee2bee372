"""``caseray analyze probe``: inside a grid trial's saved model. Each measurement against an answer
planted or computed another way: a planted embedding's PCA and DFT, ridge R² on planted states,
attention from '=' in a model whose attention is uniform, the matched-sum pairing by brute force; then
a tiny trial end to end, its report section, and bad input (exit 2, nothing written)."""

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from caseray.cli.main import main
from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.datasets import load_dataset
from caseray.data.tasks import TaskSpec, build_task
from caseray.data.tokenizers import build_tokenizer
from caseray.train.models import ModelSpec, build_model
from caseray.trial import probe, probe_stats
from caseray.trial.run import run_trial
from caseray.trial.spec import TrialSpec


def planted_model(tokenizer, rows_of):
    """A tiny GPT-2 whose input-embedding rows of the numbers 0..99 are ``rows_of(n)``."""
    torch.manual_seed(0)
    model = build_model(ModelSpec(), tokenizer, 64)
    with torch.no_grad():
        for n in range(100):
            model.get_input_embeddings().weight[tokenizer.encode(str(n))[0]] = torch.as_tensor(rows_of(n))
    return model


def test_a_planted_embedding_gives_its_pca_shares_and_its_period():
    """n -> [cos(2 pi n / 10), sin(2 pi n / 10), n / 50, 0, ...] + tiny noise: the PCA shares are the
    covariance's eigenvalues (eigh, not an SVD), and the strongest frequency is k = 100 / 10 = 10 with
    the energy share of the cos and sin columns (counted directly, not by an FFT)."""
    rng = np.random.default_rng(1)
    dim = 128
    plant = np.zeros((100, dim))
    n = np.arange(100)
    plant[:, 0], plant[:, 1], plant[:, 2] = np.cos(2 * np.pi * n / 10), np.sin(2 * np.pi * n / 10), n / 50
    plant += rng.normal(0, 1e-4, plant.shape)
    tokenizer = build_tokenizer("number")
    model = planted_model(tokenizer, lambda k: plant[k].astype(np.float32))
    rows, why = probe.number_rows(model, tokenizer, build_task(TaskSpec(high=99)))
    assert why is None and rows.shape == (100, dim)
    geometry = probe_stats.embedding_geometry(rows, 0)
    eig = np.sort(np.linalg.eigvalsh(np.cov(plant.T)))[::-1]
    np.testing.assert_allclose(geometry["pca_share"][:3], eig[:3] / eig.sum(), atol=1e-4)
    centred = plant - plant.mean(0)
    assert geometry["top_frequencies"][0]["k"] == 10 and geometry["top_frequencies"][0]["period"] == 10
    # the ramp puts a little energy at k = 10 too (|DFT|^2 of n / 50 there, both halves), the noise ~nothing
    ramp = 2 * (np.abs(np.sum(centred[:, 2] * np.exp(-2j * np.pi * 10 * n / 100))) ** 2) / 100
    expected = ((centred[:, :2] ** 2).sum() + ramp) / (centred ** 2).sum()
    assert geometry["top_frequencies"][0]["share"] == pytest.approx(expected, abs=1e-3)
    assert sum(geometry["dft_share"]) == pytest.approx(1.0)  # Parseval: every frequency's share
    assert np.asarray(geometry["pc_scores"]).shape == (3, 100)


def test_a_digit_tokenizer_has_no_number_embeddings_to_read():
    tokenizer = build_tokenizer("digit")
    torch.manual_seed(0)
    rows, why = probe.number_rows(build_model(ModelSpec(), tokenizer, 64), tokenizer, build_task(TaskSpec(high=19)))
    assert rows is None and "'digit' writes '10' as 2 tokens" in why and "tokenizer: number" in why


def planted_states(n: int = 3000, dim: int = 16, seed: int = 0):
    """Layer 0 carries s only; layer 1 a linear map of (s, d); both with a little noise."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 100, n), rng.integers(0, 100, n)
    s, d = (a + b).astype(float), (a - b).astype(float)
    only_s = np.outer(s, rng.normal(size=dim)) + rng.normal(0, 0.01, (n, dim))
    both = np.stack([s, d], 1) @ rng.normal(size=(2, dim)) + rng.normal(0, 0.01, (n, dim))
    return a, b, np.stack([only_s, both], 1)


def test_ridge_probes_find_what_a_planted_state_carries_and_nothing_else():
    a, b, states = planted_states()
    fit = np.arange(len(a)) < 0.8 * len(a)
    out = probe_stats.layer_probes(states, a, b, fit, {"held": ~fit})
    r2 = out["r2"]["held"]
    assert r2["s"][0] > 0.999 and r2["d"][0] < 0.01 and r2["|d|"][0] < 0.01  # s only: d is not there
    assert r2["s"][1] > 0.999 and r2["d"][1] > 0.999 and r2["s,d"][1] > 0.999
    assert r2["|d|"][1] < 0.05  # |d| is not linear in (s, d): a linear probe cannot read it
    assert out["rmse"]["held"]["s"][0] < 0.05


def test_ridge_fit_is_least_squares_as_the_penalty_vanishes():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(200, 5)), rng.normal(size=200)
    predict = probe_stats.ridge_fit(x, y, alpha=1e-12)
    design = np.column_stack([x, np.ones(200)])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    np.testing.assert_allclose(predict(x), design @ coef, atol=1e-8)
    assert probe_stats.ridge_fit(np.ones((10, 3)), np.arange(10.0))(np.ones((2, 3))) == pytest.approx([4.5, 4.5])


def test_attention_by_sum_pairs_each_sum_as_brute_force_does():
    rng = np.random.default_rng(3)
    a, b = np.meshgrid(np.arange(6), np.arange(6), indexing="ij")
    a, b = a.ravel(), b.ravel()
    to_a, to_b = rng.random((36, 2, 3)), rng.random((36, 2, 3))
    out = probe_stats.attention_by_sum(a, b, to_a, to_b)
    assert out["sums"] == [2, 4, 6, 8]  # even sums with an a != b cell too (0 and 10 have only a = b)
    for key, side in (("eq_to_a", to_a), ("neq_to_b", to_b)):
        want = np.zeros((2, 3))
        for s in out["sums"]:
            pick = [i for i in range(36) if a[i] + b[i] == s and (a[i] == b[i]) == key.startswith("eq")]
            want += sum(side[i] for i in pick) / len(pick)
        np.testing.assert_allclose(out[key], want / 4)
    np.testing.assert_allclose(np.asarray(out["by_sum"]["eq"])[0], to_a[7] + to_b[7])  # s = 2: the cell (1, 1)


def uniform_attention_model(tokenizer):
    """A tiny GPT-2 whose queries and keys are zero: every position attends evenly to all it sees."""
    torch.manual_seed(0)
    model = build_model(ModelSpec(), tokenizer, 64).eval()
    model.set_attn_implementation("eager")
    with torch.no_grad():
        for block in model.transformer.h:
            width = block.attn.c_attn.weight.shape[0]
            block.attn.c_attn.weight[:, :2 * width] = 0
            block.attn.c_attn.bias[:2 * width] = 0
    return model


@pytest.mark.parametrize("tokenizer_name", ["number", "digit"])
def test_attention_from_equals_reads_the_operand_tokens(tokenizer_name):
    """With uniform attention, '=' at position e gives each of the e + 1 tokens it sees 1 / (e + 1): an
    operand gets its token count over that, computed here from the prompt text alone."""
    spec = from_dict(TrialSpec, {"task": {"high": 12}, "tokenizer": tokenizer_name,
                                 "split": {"half_width": 1, "center": [6, 6]}})
    tokenizer = build_tokenizer(tokenizer_name)
    table = load_dataset(spec.data_spec(), tokenizer=tokenizer)
    layout = probe.operand_layout(table, tokenizer, 10, spec.name)
    model = uniform_attention_model(tokenizer)
    seen = probe.forward_all(model, spec, table, tokenizer, layout, torch.device("cpu"), True)
    a, b = table["a"].to_numpy(), table["b"].to_numpy()
    width = (lambda n: len(str(n))) if tokenizer_name == "digit" else (lambda n: 1)
    sees = np.array([len(p) if tokenizer_name == "digit" else 4 for p in table["prompt"].to_pylist()]) + 1
    want_a, want_b = np.array([width(n) for n in a]) / sees, np.array([width(n) for n in b]) / sees
    assert seen["to_a"].shape == (len(a), 2, 4) and seen["states"].shape == (len(a), 3, 128)
    np.testing.assert_allclose(seen["to_a"], np.broadcast_to(want_a[:, None, None], seen["to_a"].shape), atol=1e-6)
    np.testing.assert_allclose(seen["to_b"], np.broadcast_to(want_b[:, None, None], seen["to_b"].shape), atol=1e-6)
    row = 40  # the margin at the first answer token, from a forward pass of that row alone
    ids = torch.tensor([[tokenizer.bos_id] + table["prompt_ids"][row].as_py() + table["target_ids"][row].as_py()])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(table["prompt_ids"][row].as_py())]
    right = table["target_ids"][row].as_py()[0]
    other = torch.cat([logits[:right], logits[right + 1:]]).max()
    assert seen["margin"][row] == pytest.approx(float(logits[right] - other), abs=1e-5)


@pytest.mark.parametrize("data, words", [
    ({"task": {"name": "chicken_rabbit", "high": 12}}, "does not end with a, b and '='"),
    ({"task": {"high": 12}, "format_options": {"index_hints": True}, "tokenizer": "digit"},
     "does not end with a, b and '='"),
])
def test_a_prompt_without_a_then_b_is_refused_naming_the_trial(data, words):
    spec = from_dict(TrialSpec, {"split": {"half_width": 1, "center": [6, 6]}, **data})
    tokenizer = build_tokenizer(spec.tokenizer)
    with pytest.raises(SpecError) as err:
        probe.operand_layout(load_dataset(spec.data_spec(), tokenizer=tokenizer), tokenizer, 10, spec.name)
    assert err.value.field == "trial" and words in str(err.value)


def tiny_trial(root, tokenizer: str, steps: int):
    spec = from_dict(TrialSpec, {"task": {"high": 19}, "tokenizer": tokenizer, "save_model": True,
                                 "split": {"half_width": 2, "center": [9, 9]},
                                 "train": {"steps": steps, "batch_size": 64, "lr": 3e-3, "log_every": 1000}})
    return run_trial(spec, root).out_dir


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    """A tiny grid trial (addition 0..19, number tokens, a 5x5 square held out), half trained."""
    return tiny_trial(tmp_path_factory.mktemp("trials"), "number", 120)


KEYS = {"trial", "label", "folder", "cells", "layers", "embedding", "probes", "attention", "failures"}


@pytest.mark.slow
def test_probe_writes_every_measurement_and_the_report_shows_it(trial, tmp_path, capsys):
    copy = tmp_path / "sweep" / "trials" / trial.name  # (default --out: inside the trial's folder)
    shutil.copytree(trial, copy)
    assert main(["analyze", "probe", str(copy)]) == 0
    printed = capsys.readouterr().out
    assert "embedding of numbers 0..19" in printed and "ridge probes at '='" in printed
    out = copy / "probe"
    result = json.loads((out / "probe.json").read_text())
    assert set(result) == KEYS and len(result["layers"]) == 3
    assert {"pca_share", "top_frequencies", "dft_share"} <= set(result["embedding"])
    assert set(result["probes"]["r2"]) == {"test", "train_holdout"} and result["probes"]["set_cells"]["test"] == 25
    assert np.asarray(result["attention"]["eq_minus_neq"]).shape == (2, 4) and result["attention"]["sums"]
    greedy = pq.read_table(trial / "cells.parquet")["greedy_correct"].to_pylist()
    assert result["failures"]["count"] == greedy.count(False) == len(result["failures"]["cells"])
    for name in ("embedding.png", "probes.png", "attention.png", "failures.png", "probe.md"):
        assert (out / name).stat().st_size > 0, name
    from caseray.report.build import sections
    from caseray.sweep.results import read_trial
    from caseray.sweep.storage import Store

    record = read_trial(Store(tmp_path / "sweep"), "trials", trial.name)
    assert record.probe == result
    text = "\n".join(sections("s", [record], [], [], [], [], tmp_path))
    assert "## Inside the model (caseray analyze probe)" in text and record.spec.label in text


@pytest.mark.slow
def test_a_digit_trial_gets_every_part_but_the_embeddings(tmp_path, capsys):
    folder = tiny_trial(tmp_path / "trials", "digit", 20)
    assert main(["analyze", "probe", str(folder), "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "probe.json").read_text())
    assert "tokenizer: number" in result["embedding"]["skipped"] and result["attention"]["sums"]
    assert "embedding: skipped" in capsys.readouterr().out
    assert not (tmp_path / "out" / "embedding.png").exists() and (tmp_path / "out" / "probes.png").exists()


def fake_trial(where, trial, spec: dict | None = None, model=True, cells=True):
    """A trial folder with ``spec`` (default: the real trial's) and what it is told to have."""
    where.mkdir(parents=True)
    (where / "spec.json").write_text(json.dumps(spec) if spec else (trial / "spec.json").read_text())
    if model:
        shutil.copytree(trial / "model", where / "model")
    if cells:
        shutil.copy(trial / "cells.parquet", where / "cells.parquet")
    shutil.copytree(trial / "tokenizer", where / "tokenizer")
    return where


@pytest.mark.parametrize("case, words", [
    ("missing", "trial: no trial in"),
    ("no_model", "trial: no saved model in"),
    ("no_cells", "trial: no cells.parquet in"),
    ("length", "is a length trial"),
    ("chicken", "does not end with a, b and '='"),
    ("ridge", "--ridge: 0.0 is not a ridge strength"),
    ("ridge_inf", "--ridge: inf is not a ridge strength"),
    ("out_file", "--out: "),
])
def test_bad_input_exits_2_naming_the_argument_and_writes_nothing(trial, tmp_path, capsys, case, words):
    length = from_dict(TrialSpec, {"tokenizer": "digit", "lengths": {"train_digits": [1, 2], "test_digits": [1, 3]}})
    chicken = from_dict(TrialSpec, {"task": {"name": "chicken_rabbit", "high": 12}, "split": {"half_width": 2}})
    folders = {"missing": tmp_path / "missing", "no_model": lambda: fake_trial(tmp_path / "t", trial, model=False),
               "no_cells": lambda: fake_trial(tmp_path / "t", trial, cells=False),
               "length": lambda: fake_trial(tmp_path / "t", trial, length.to_dict()),
               "chicken": lambda: fake_trial(tmp_path / "t", trial, chicken.to_dict())}
    folder = folders.get(case, trial)
    folder = folder() if callable(folder) else folder
    (tmp_path / "a_file").write_text("")
    out = tmp_path / ("a_file" if case == "out_file" else "out")
    ridge = {"ridge": ["--ridge", "0"], "ridge_inf": ["--ridge", "inf"]}.get(case, [])
    argv = ["analyze", "probe", str(folder), "--out", str(out)] + ridge
    assert main(argv) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (trial / "probe").exists()
