"""A trained model against its trial's cells: one row of results per cell and the trial's summary metrics.

Per cell: ``accuracy`` (= ``greedy_correct``: greedy decoding gives the whole target, steps and
answer), ``answer_correct`` (greedy decoding's final answer is right, whatever its steps),
``first_wrong_step``, ``step_acc`` and, with ``eval.samples``, ``sample_acc`` (the share of sampled
answers that are right). ``accuracy`` means exact match and nothing else."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from caseray.data.splits import resolve_squares
from caseray.train.batches import list_values, make_batchable
from caseray.train.evaluate import generate, teacher_forced, wrong_line
from caseray.trial.metrics import family_metrics, summarize, summarize_lengths
from caseray.trial.result import timed
from caseray.trial.spec import TrialSpec


def trial_metrics(spec: TrialSpec, task, cells: pa.Table) -> dict:
    """Summary metrics of a finished trial's per-cell table (grid or length trial)."""
    split, acc = cells["split"].to_numpy(zero_copy_only=False), cells["accuracy"].to_numpy()
    column = {k: cells[k].to_numpy().astype(float) if k in cells.column_names else None
              for k in ("step_acc", "answer_correct", "sample_acc")}
    step_acc, answer = column["step_acc"], column["answer_correct"]
    if spec.lengths is not None:
        n = cells["n_digits"].to_numpy()
        metrics = summarize_lengths(split, acc, n, spec.lengths.train_digits, step_acc, answer)
        if "family" in cells.column_names:  # length data version 3
            answer_digits = [len(task.answer(int(a), int(b))) for a, b in zip(cells["a"].to_pylist(),
                                                                              cells["b"].to_pylist())]
            metrics.update(family_metrics(split, acc, n, cells["family"].to_numpy(zero_copy_only=False),
                                          answer_digits))
        return metrics
    metrics = summarize(split, acc, cells["ring"].to_numpy(), cells["square"].to_numpy(),
                        cells["dist_train"].to_numpy(), tuple(resolve_squares(task, spec.split)), answer,
                        column["sample_acc"])
    if step_acc is not None:
        metrics["step_acc"] = float(np.mean(step_acc[split == "test"])) if (split == "test").any() else float("nan")
    return metrics


def count_lines(target_ids: pa.ChunkedArray, line_ends: list[int]) -> np.ndarray:
    """Lines (steps + the answer) of every target: its line-end tokens + 1."""
    flat, offsets = list_values(target_ids)
    ends = np.concatenate([[0], np.cumsum(np.isin(flat, line_ends))])
    return (1 + ends[offsets[1:]] - ends[offsets[:-1]]).astype(np.int32)


# a cell's place, as its data has it (length data: its length, each operand's digits and its family)
PLACE = ("a", "b", "split", "ring", "square", "dist_train", "n_digits", "digits_a", "digits_b", "family")


def _answers_right(fmt, tokenizer, completions: list[list[int]], answers: list) -> np.ndarray:
    """Per completion: its parsed final answer equals the true one."""
    return np.array([fmt.read_answer(tokenizer.decode(c)) == answers[i] for i, c in enumerate(completions)])


def greedy_answers(spec: TrialSpec, model, table: pa.Table, tokenizer, device, exact: np.ndarray) -> np.ndarray:
    """Per row: greedy decoding's final answer is right. An exact row's greedy output is its target;
    only the others are decoded (KV-cached ``generate``), so the cost follows the failures."""
    right = exact.copy()
    wrong = np.flatnonzero(~exact)
    if len(wrong):
        fmt, sub = spec.answer_format(), table.take(pa.array(wrong))
        completions = [c[0] for c in generate(model, sub, tokenizer, device, spec.eval.batch_size,
                                              positions=spec.positions())]
        right[wrong] = _answers_right(fmt, tokenizer, completions, sub["answer"].to_pylist())
    return right


def evaluate_cells(spec: TrialSpec, model, table: pa.Table, tokenizer, device, seconds: dict | None = None) -> pa.Table:
    """One row per cell: its place (``PLACE`` columns its data has) and how the model did: greedy
    exact match, greedy answer, the first wrong step (line) and the step accuracy, and sampled
    answer accuracy if asked. ``seconds`` gets each part's time (``time/teacher_forced_s``,
    ``time/greedy_s``, ``time/sampled_s``)."""
    seconds = {} if seconds is None else seconds
    columns = {k: table[k] for k in PLACE if k in table.column_names}
    targets = table["target_ids"].to_pylist()
    positions = spec.positions()
    data = make_batchable(table, tokenizer.bos_id, tokenizer.pad_id, places=positions.coupled,
                          rule=positions.rule)
    line_ends = tokenizer.line_end_ids()
    with timed(seconds, "teacher_forced"):
        correct, first_bad, predicted, step_acc = teacher_forced(model, data, spec.eval.batch_size, device,
                                                                 spec.train.precision, line_ends, positions)
    step = np.full(len(correct), -1, dtype=np.int32)
    for i in np.flatnonzero(~correct):
        step[i] = wrong_line(tokenizer, targets[i], int(first_bad[i]), int(predicted[i]))
    columns["greedy_correct"] = pa.array(correct)
    with timed(seconds, "greedy"):
        columns["answer_correct"] = pa.array(greedy_answers(spec, model, table, tokenizer, device, correct))
    columns["first_wrong_step"] = pa.array(step)
    columns["n_steps"] = pa.array(count_lines(table["target_ids"], line_ends))
    columns["step_acc"] = pa.array(step_acc)
    columns["accuracy"] = pa.array(correct.astype(float))
    if spec.eval.samples:  # the paper's hole maps: correct / N sampled answers per cell
        with timed(seconds, "sampled"):
            draws = generate(model, table, tokenizer, device, spec.eval.batch_size, spec.eval.samples,
                             spec.eval.temperature, spec.eval.sample_seed, positions=positions)
        fmt, answers = spec.answer_format(), table["answer"].to_pylist()
        columns["sample_acc"] = pa.array([float(np.mean(_answers_right(fmt, tokenizer, d, [answers[i]] * len(d))))
                                          for i, d in enumerate(draws)])
    return pa.table(columns)
