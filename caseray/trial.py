"""One trial, end to end, as a plain function of a frozen ``TrialSpec`` -- no Ray anywhere.

``run_trial(spec, out_root)`` builds the dataset, trains a model, evaluates every cell of the grid (or
every problem of a length trial) and writes into ``out_root/<spec.name>/``: ``spec.json``,
``tokenizer/``, ``model/`` (safetensors), ``checkpoints/``, ``cells.parquet`` (one row per cell),
``metrics.json`` and ``holemap.png`` (for a length trial: accuracy by length). A trial whose
``metrics.json`` exists is finished and is not run again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from caseray.atomic import write_text_atomic
from caseray.batches import list_values, make_batchable
from caseray.checkpoints import LocalCheckpoints
from caseray.data import load_dataset, write_parquet_atomic
from caseray.errors import SpecError
from caseray.engine import Runtime, build_engine, world
from caseray.evaluate import generate, teacher_forced, wrong_line
from caseray.formats import get_format
from caseray.metrics import summarize, summarize_lengths
from caseray.models import build_model, count_parameters
from caseray.splits import resolve_squares
from caseray.tasks import build_task
from caseray.tokenizers import build_tokenizer
from caseray.train import Checkpoints, schedule_fn, train
from caseray.trial_spec import TrialSpec

Reporter = Callable[[int, dict], None]


@dataclass(frozen=True)
class TrialResult:
    name: str
    out_dir: Path
    metrics: dict

    @property
    def cells_path(self) -> Path:
        return self.out_dir / "cells.parquet"

    @property
    def holemap_path(self) -> Path:
        return self.out_dir / "holemap.png"


def resolve_device(spec: TrialSpec) -> torch.device:
    if spec.device == "cuda" and not torch.cuda.is_available():
        raise SpecError("device", "cuda was asked for but no CUDA GPU is visible", ["cpu", "auto"])
    if spec.device == "cpu" or (spec.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", torch.cuda.current_device())  # a Ray Train worker has set its own GPU


def load_result(spec: TrialSpec, out_root: str | Path) -> TrialResult | None:
    """A finished trial's result (its ``metrics.json`` is written last); None if it has not finished."""
    out = Path(out_root) / spec.name
    if not (out / "metrics.json").exists():
        return None
    return TrialResult(spec.name, out, json.loads((out / "metrics.json").read_text()))


def run_trial(spec: TrialSpec, out_root: str | Path = "caseray_out/trials", on_report: Reporter | None = None,
              stop_after: int | None = None, runtime: Runtime = Runtime(),
              checkpoints: Checkpoints | None = None) -> TrialResult:
    """Train and evaluate one trial. ``on_report(step, metrics)`` receives training progress on every
    rank (e.g. for Ray or MLflow; the final metrics are the result's); ``stop_after`` stops training at
    that step without evaluating (a stand-in for a crash). ``runtime`` picks the engine (one process,
    DDP, DeepSpeed); ``checkpoints`` defaults to ``<out>/checkpoints/`` when the spec asks for them.
    Ranks other than 0 train and return empty metrics; rank 0 evaluates and writes every output."""
    out = Path(out_root) / spec.name
    finished = load_result(spec, out_root)
    if finished is not None:
        return finished
    device = resolve_device(spec)
    torch.set_num_threads(spec.threads)
    rank = world()[0]
    tokenizer = build_tokenizer(spec.tokenizer)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "spec.json", json.dumps(spec.to_dict(), indent=2))
        tokenizer.save(out / "tokenizer")
    table = load_dataset(spec.data_spec(), tokenizer=tokenizer)
    train_rows, extra = table.filter(pc.equal(table["split"], "train")), {}
    if spec.lema is not None:  # CoT + correction examples (caseray.lema)
        if world()[1] > 1:
            raise SpecError("lema", "a LEMA trial runs in one process", ["resources.backend: inline"])
        from caseray.lema import lema_training_rows

        train_rows, extra = lema_training_rows(spec, table, tokenizer, device, out_root, out, runtime)
    sized = (table, train_rows) if spec.lema is not None else (table,)  # (plain training rows are in table)
    max_len = max(int(make_batchable(t, tokenizer.bos_id, tokenizer.pad_id).lengths.max()) for t in sized)
    torch.manual_seed(spec.seed)
    model = build_model(spec.model, tokenizer, max_len=max_len)
    total = spec.train.total_steps(train_rows.num_rows)
    engine = build_engine(model, spec.train, schedule_fn(spec.train, total), device, runtime)
    if checkpoints is None and spec.train.checkpoint_every:
        checkpoints = LocalCheckpoints(out / "checkpoints")

    def log(step, figures):
        if on_report is not None:
            on_report(step, {f"train/{k}": v for k, v in figures.items()})

    figures = train(engine, make_batchable(train_rows, tokenizer.bos_id, tokenizer.pad_id), spec.train, total,
                    spec.seed, checkpoints=checkpoints, on_log=log, stop_after=stop_after)
    model = engine.full_model(lambda: build_model(spec.model, tokenizer, max_len=max_len))
    if (stop_after is not None and stop_after < total) or rank != 0:
        return TrialResult(spec.name, out, {})

    cells = evaluate_cells(spec, model, evaluation_rows(spec, table), tokenizer, device)
    write_parquet_atomic(cells, out / "cells.parquet")
    task = build_task(spec.task)
    metrics = trial_metrics(spec, task, cells)
    metrics.update({f"train/{k}": v for k, v in figures.items()})  # resumed_from: 0 unless restarted
    metrics["n_params"] = count_parameters(model)
    metrics.update(extra)
    if spec.lengths is not None:
        plot_lengths(spec, metrics, out / "holemap.png")
    else:
        plot_holemap(spec, task, cells, tuple(resolve_squares(task, spec.split)), metrics, out / "holemap.png")
    if spec.save_model:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model.save_pretrained(out / "model")
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2))  # last: marks the trial done
    return TrialResult(spec.name, out, metrics)


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


def evaluation_mask(spec: TrialSpec, split: np.ndarray, n_digits: np.ndarray | None) -> np.ndarray:
    """Which rows a trial evaluates: every cell of a grid. For a length trial, its test problems and
    a seeded sample of as many training problems per length (its training set is large and its
    traces long: train accuracy is estimated, not counted)."""
    if spec.lengths is None:
        return np.ones(len(split), dtype=bool)
    keep = split == "test"
    rng = np.random.default_rng(spec.seed)
    for length in np.unique(n_digits[split == "train"]):
        rows = np.flatnonzero((split == "train") & (n_digits == length))
        keep[rng.choice(rows, min(len(rows), spec.lengths.test_per_length), replace=False)] = True
    return keep


def evaluation_rows(spec: TrialSpec, table: pa.Table) -> pa.Table:
    if spec.lengths is None:
        return table
    mask = evaluation_mask(spec, table["split"].to_numpy(zero_copy_only=False), table["n_digits"].to_numpy())
    return table.filter(pa.array(mask))


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


def plot_holemap(spec: TrialSpec, task, cells: pa.Table, squares, metrics: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from caseray.plots import save_figure, plot_accuracy

    fig, ax = plt.subplots(figsize=(6, 5.2))
    image = plot_accuracy(ax, task, cells["a"].to_numpy(), cells["b"].to_numpy(), cells["accuracy"].to_numpy(),
                          squares)
    fig.colorbar(image, ax=ax, label="accuracy")
    sq = f", square {metrics['square_acc']:.0%}, centre {metrics['centre_acc']:.0%}" if squares else ""
    ax.set_title(f"{task.name} / {spec.format} / {spec.tokenizer} / {spec.model.scale}\n"
                 f"train {metrics['train_acc']:.0%}, test {metrics['test_acc']:.0%}{sq}", fontsize=9)
    return save_figure(fig, path)


def plot_lengths(spec: TrialSpec, metrics: dict, path: Path) -> Path:
    """A length trial's figure: exact-match and step accuracy per digit count, trained lengths shaded."""
    import matplotlib.pyplot as plt

    from caseray.plots import save_figure

    lengths = sorted(int(k.split("/")[1]) for k in metrics if k.startswith("len_acc/"))
    fig, ax = plt.subplots(figsize=(6, 4))
    lo, hi = spec.lengths.train_digits
    ax.axvspan(lo - 0.5, hi + 0.5, color="0.9", label="trained lengths")
    ax.plot(lengths, [metrics[f"len_acc/{n}"] for n in lengths], "o-", label="exact match")
    if f"len_step_acc/{lengths[0]}" in metrics:
        ax.plot(lengths, [metrics[f"len_step_acc/{n}"] for n in lengths], "s--", label="steps right")
    ax.set(xlabel="digits per operand", ylabel="accuracy", ylim=(-0.03, 1.03), xticks=lengths)
    ax.legend(fontsize=8)
    ax.set_title(f"{spec.task.name} / {spec.format} / {spec.tokenizer} / {spec.model.scale}\n"
                 f"trained {lo}-{hi} digits: reach {metrics['reach']}, beyond {metrics['ood_acc']:.0%}", fontsize=9)
    return save_figure(fig, path)
