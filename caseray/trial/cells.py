"""A trained model against its trial's cells: one row of results per cell and the trial's summary metrics.

Per cell: ``accuracy`` (= ``greedy_correct``: greedy decoding gives the whole target, steps and
answer), ``answer_correct`` (greedy decoding's final answer is right, whatever its steps),
``first_wrong_step``, ``step_acc`` and, with ``eval.samples``, ``sample_acc`` (the share of sampled
answers that are right). ``accuracy`` means exact match and nothing else.

What the model said: ``output`` (string) is the greedy output of every cell it got wrong (greedy exact
match false), decoded with the trial's tokenizer up to its eos, special tokens dropped, at most
``OUTPUT_CHARS`` characters (longer ones cut, ending in ``CUT``); null for exact cells, whose output
is their target. With ``eval.samples``, ``sample_wrong`` (string) is the most common wrong final
answer among the samples (as the format reads it; ``""``: an empty answer; the first drawn wins a
tie), null where every sample was right. Trials evaluated before these columns existed lack them:
readers treat a missing column as unknown."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa

from caseray.data.splits import resolve_squares
from caseray.train.batches import list_values, make_batchable
from caseray.train.evaluate import generate, teacher_forced, wrong_line
from caseray.trial.metrics import family_metrics, region_metrics, summarize, summarize_lengths
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
    if spec.split.kind == "region":
        metrics.update(region_metrics(split, acc, cells["ring"].to_numpy(), cells["square"].to_numpy()))
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


OUTPUT_CHARS = 400  # the most characters of a model's output kept per cell
CUT = " …[cut]"  # ends an output longer than that


def clip(text: str, limit: int = OUTPUT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + CUT


def _answers(fmt, texts: list[str]) -> list[str]:
    """Per decoded completion: its final answer as the format reads it ("" when it has none)."""
    return [fmt.read_answer(t) or "" for t in texts]


def greedy_outputs(spec: TrialSpec, model, table: pa.Table, tokenizer, device,
                   exact: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    """Per row: greedy decoding's final answer is right, and its output text (``clip``-ped; None for
    exact rows). An exact row's greedy output is its target; only the others are decoded (KV-cached
    ``generate``, cut after eos), so the cost follows the failures."""
    right, outputs = exact.copy(), [None] * len(exact)
    wrong = np.flatnonzero(~exact)
    if len(wrong):
        fmt, sub = spec.answer_format(), table.take(pa.array(wrong))
        texts = [tokenizer.decode(c[0]) for c in generate(model, sub, tokenizer, device, spec.eval.batch_size,
                                                          positions=spec.positions())]
        right[wrong] = [said == answer for said, answer in zip(_answers(fmt, texts), sub["answer"].to_pylist())]
        for i, text in zip(wrong, texts):
            outputs[i] = clip(text)
    return right, outputs


def most_common_wrong(said: list[str], answer: str) -> str | None:
    """The answer said most often among the wrong ones (the first said wins a tie); None if none."""
    wrong = Counter(s for s in said if s != answer)
    return clip(wrong.most_common(1)[0][0]) if wrong else None


def evaluate_cells(spec: TrialSpec, model, table: pa.Table, tokenizer, device, seconds: dict | None = None) -> pa.Table:
    """One row per cell: its place (``PLACE`` columns its data has) and how the model did: greedy
    exact match, greedy answer, what it said where it was wrong (``output``), the first wrong step
    (line) and the step accuracy, and sampled answer accuracy and the commonest wrong sample if asked.
    ``seconds`` gets each part's time (``time/teacher_forced_s``, ``time/greedy_s``, ``time/sampled_s``)."""
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
        answer_right, outputs = greedy_outputs(spec, model, table, tokenizer, device, correct)
    columns["answer_correct"] = pa.array(answer_right)
    columns["output"] = pa.array(outputs, pa.string())
    columns["first_wrong_step"] = pa.array(step)
    columns["n_steps"] = pa.array(count_lines(table["target_ids"], line_ends))
    columns["step_acc"] = pa.array(step_acc)
    columns["accuracy"] = pa.array(correct.astype(float))
    if spec.eval.samples:  # the paper's hole maps: correct / N sampled answers per cell
        with timed(seconds, "sampled"):
            draws = generate(model, table, tokenizer, device, spec.eval.batch_size, spec.eval.samples,
                             spec.eval.temperature, spec.eval.sample_seed, positions=positions)
        fmt, answers = spec.answer_format(), table["answer"].to_pylist()
        said = [_answers(fmt, [tokenizer.decode(c) for c in d]) for d in draws]
        columns["sample_acc"] = pa.array([float(np.mean([s == answers[i] for s in row])) for i, row in enumerate(said)])
        columns["sample_wrong"] = pa.array([most_common_wrong(row, answers[i]) for i, row in enumerate(said)],
                                           pa.string())
    return pa.table(columns)
