"""A trained model against its trial's cells: which rows are evaluated, one row of results per cell
(greedy exact match, first wrong step, step accuracy, sampled accuracy) and the trial's summary metrics."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from caseray.data.formats import get_format
from caseray.data.splits import resolve_squares
from caseray.train.batches import list_values, make_batchable
from caseray.train.evaluate import generate, teacher_forced, wrong_line
from caseray.trial.metrics import summarize, summarize_lengths
from caseray.trial.spec import TrialSpec


def trial_metrics(spec: TrialSpec, task, cells: pa.Table) -> dict:
    """Summary metrics of a finished trial's per-cell table (grid or length trial)."""
    split, acc = cells["split"].to_numpy(zero_copy_only=False), cells["accuracy"].to_numpy()
    step_acc = cells["step_acc"].to_numpy() if "step_acc" in cells.column_names else None
    if spec.lengths is not None:
        return summarize_lengths(split, acc, cells["n_digits"].to_numpy(), spec.lengths.train_digits, step_acc)
    metrics = summarize(split, acc, cells["ring"].to_numpy(), cells["square"].to_numpy(),
                        cells["dist_train"].to_numpy(), tuple(resolve_squares(task, spec.split)))
    if step_acc is not None:
        metrics["step_acc"] = float(np.mean(step_acc[split == "test"])) if (split == "test").any() else float("nan")
    return metrics


def count_lines(target_ids: pa.ChunkedArray, line_ends: list[int]) -> np.ndarray:
    """Lines (steps + the answer) of every target: its line-end tokens + 1."""
    flat, offsets = list_values(target_ids)
    ends = np.concatenate([[0], np.cumsum(np.isin(flat, line_ends))])
    return (1 + ends[offsets[1:]] - ends[offsets[:-1]]).astype(np.int32)


PLACE = ("a", "b", "split", "ring", "square", "dist_train", "n_digits")  # a cell's place, as its data has it


def evaluate_cells(spec: TrialSpec, model, table: pa.Table, tokenizer, device) -> pa.Table:
    """One row per cell: its place (``PLACE`` columns its data has) and how the model did: greedy
    exact match, the first wrong step (line) and the step accuracy, and sampled accuracy if asked."""
    fmt = get_format(spec.format)
    columns = {k: table[k] for k in PLACE if k in table.column_names}
    accuracy = None
    if spec.eval.greedy:
        targets = table["target_ids"].to_pylist()
        data = make_batchable(table, tokenizer.bos_id, tokenizer.pad_id)
        line_ends = tokenizer.line_end_ids()
        correct, first_bad, predicted, step_acc = teacher_forced(model, data, spec.eval.batch_size, device,
                                                                 spec.train.precision, line_ends)
        step = np.full(len(correct), -1, dtype=np.int32)
        for i in np.flatnonzero(~correct):
            step[i] = wrong_line(tokenizer, targets[i], int(first_bad[i]), int(predicted[i]))
        columns["greedy_correct"] = pa.array(correct)
        columns["first_wrong_step"] = pa.array(step)
        columns["n_steps"] = pa.array(count_lines(table["target_ids"], line_ends))
        columns["step_acc"] = pa.array(step_acc)
        accuracy = correct.astype(float)
    if spec.eval.samples:  # the paper's hole maps: correct / N sampled answers per cell
        draws = generate(model, table, tokenizer, device, spec.eval.batch_size, spec.eval.samples,
                         spec.eval.temperature, spec.eval.sample_seed)
        answers = table["answer"].to_pylist()
        accuracy = np.array([np.mean([fmt.parse(tokenizer.decode(d)).answer == answers[i] for d in draws[i]])
                             for i in range(len(draws))])
        columns["sample_acc"] = pa.array(accuracy)
    columns["accuracy"] = pa.array(accuracy)
    return pa.table(columns)
