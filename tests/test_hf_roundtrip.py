"""A trained trial loaded by Hugging Face alone: ``AutoTokenizer`` + ``AutoModelForCausalLM`` (and once
``pipeline("text-generation")``) from the trial's ``model/`` folder, greedy-decoding every evaluated
cell's prompt, agree with caseray's own verdicts in ``cells.parquet`` on every cell.

Learned GPT-2 positions only (the default): nope / coupled models need the position ids caseray hands
them at every step, which ``generate()`` does not pass (``caseray.data.tokenizers``' docstring)."""

import pyarrow.parquet as pq
import pytest
import torch

from caseray.data.tasks import build_task
from caseray.train.spec import TrainSpec
from caseray.trial.run import run_trial
from helpers import tiny_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    """A tiny model trained on addition 0-19 with ``number:9`` tokens (answers of one or two tokens,
    prompts' two-digit runs one token per digit), long enough to be right on most cells, not all;
    with every cell's prompt, target and answer written by the format (plain text, not tokens)."""
    spec = tiny_spec(tokenizer="number:9", train=TrainSpec(steps=200, lr=3e-3, batch_size=32, log_every=1000))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CASERAY_CACHE", str(tmp_path_factory.mktemp("cache")))
        result = run_trial(spec, tmp_path_factory.mktemp("trials"))
    cells = pq.read_table(result.out_dir / "cells.parquet").to_pylist()
    task, fmt = build_task(spec.task), spec.answer_format()
    texts = [(fmt.prompt(task, c["a"], c["b"]), fmt.target(task, c["a"], c["b"]), task.answer(c["a"], c["b"]))
             for c in cells]
    return result.out_dir / "model", cells, texts, fmt


def agreement(cells, texts, fmt, generated: list[str]) -> tuple[int, int]:
    """How many cells' greedy continuation (special tokens written out, cut after the first ``<eos>``)
    gets caseray's verdicts: exact (the target, then eos) = ``accuracy``, the answer read from it =
    ``answer_correct``."""
    same_exact = same_answer = 0
    for cell, (_, target, answer), text in zip(cells, texts, generated):
        text = text[:text.index("<eos>") + 5] if "<eos>" in text else text
        same_exact += (text == target + "<eos>") == bool(cell["accuracy"])
        same_answer += (fmt.read_answer(text.removesuffix("<eos>")) == answer) == cell["answer_correct"]
    return same_exact, same_answer


def test_transformers_alone_decodes_every_cell_as_caseray_scored_it(trial):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, cells, texts, fmt = trial
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval()
    right = sum(c["accuracy"] for c in cells)
    assert len(cells) == 400 and 40 <= right <= 360  # some right, some wrong: agreement is not trivial
    batch = tok([p for p, _, _ in texts], return_tensors="pt", padding=True)  # left-padded, <bos> first
    assert tok.padding_side == "left" and (batch["input_ids"][:, 0] == tok.pad_token_id).any()  # padding used
    longest = max(len(tok(t, add_special_tokens=False)["input_ids"]) for _, t, _ in texts)
    with torch.inference_mode():
        out = model.generate(**batch, do_sample=False, max_new_tokens=longest + 2)
    generated = tok.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=False)
    assert agreement(cells, texts, fmt, generated) == (len(cells), len(cells))


def test_text_generation_pipeline_from_the_model_folder(trial):
    from transformers import pipeline

    folder, cells, texts, fmt = trial
    generate = pipeline("text-generation", model=str(folder), device="cpu")
    generated = [generate(prompt, do_sample=False, max_new_tokens=len(target) + 2, return_full_text=False,
                          skip_special_tokens=False)[0]["generated_text"] for prompt, target, _ in texts]
    assert agreement(cells, texts, fmt, generated) == (len(cells), len(cells))
