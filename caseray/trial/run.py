"""One trial, end to end, as a plain function of a frozen ``TrialSpec`` -- no Ray anywhere.

``run_trial(spec, out_root)`` runs three phases, each a function of its own:

1. ``prepare``: the tokenizer, the dataset (cached parquet) and the training rows (a LEMA trial's
   are CoT + corrections, ``caseray.lema``); ``spec.json`` and ``tokenizer/`` are written.
2. ``fit``: the model (seeded), the engine (one process, DDP or DeepSpeed) and the training loop,
   resuming from the newest checkpoint.
3. ``evaluate_and_write`` (rank 0): every cell of the grid (or every problem of a length trial)
   -> ``cells.parquet``, ``holemap.png`` and ``holemap.html`` (interactive; grid trials), ``model/``
   (safetensors) and ``metrics.json`` last.

A trial whose ``metrics.json`` exists is finished and is not run again.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc
import torch

from caseray.core.atomic import write_text_atomic
from caseray.core.errors import SpecError
from caseray.core.local_folders import FOLDERS_FILE
from caseray.core.paths import writing
from caseray.data.datasets import load_dataset, write_parquet_atomic
from caseray.data.splits import resolve_squares
from caseray.data.tasks import build_task
from caseray.data.tokenizers import Tokenizer, build_tokenizer
from caseray.lema.rows import lema_training_rows
from caseray.train.batches import longest_row, make_batchable
from caseray.train.checkpoints import LocalCheckpoints
from caseray.train.engine import build_engine, world
from caseray.train.loop import Checkpoints, schedule_fn, train
from caseray.train.models import build_model, count_parameters, save_trained
from caseray.train.runtime import Runtime
from caseray.trial.cells import evaluate_cells, trial_metrics
from caseray.trial.curve import CURVE, Curve, plot_curve
from caseray.trial.curve import FIGURE as CURVE_FIGURE
from caseray.trial.eval_rows import evaluation_rows
from caseray.trial.figures import holemap_title, plot_holemap, plot_lengths
from caseray.trial.interactive import write_holemap_html
from caseray.trial.result import DONE, TrialResult, load_result, timed
from caseray.trial.spec import TrialSpec, check_curve

Reporter = Callable[[int, dict], None]


@dataclass(frozen=True)
class Prepared:
    """What the ``prepare`` phase hands on: the data a trial trains and is evaluated on."""

    out: Path
    device: torch.device
    tokenizer: Tokenizer
    table: pa.Table  # every cell (or problem) of the trial's dataset
    train_rows: pa.Table  # what the model trains on
    extra_metrics: dict  # counts from preparing the rows (LEMA's ``lema/...``)
    max_len: int  # the model's position table: the longest row it will see
    init_len: int  # the CoT trial's max_len: the model is initialised as for it (paired with it), then widened
    start_from: Path | None = None  # the pretraining trial's saved model (``spec.init``)


@dataclass(frozen=True)
class Fitted:
    model: torch.nn.Module
    figures: dict  # the training loop's final figures (loss, tokens/s, resumed_from, ...)
    complete: bool  # trained every step (not stopped early by ``stop_after``)
    curve: Curve | None = None  # the held-out curve's points (``eval.curve_every``)


def resolve_device(spec: TrialSpec) -> torch.device:
    if spec.device == "cuda" and not torch.cuda.is_available():
        raise SpecError("device", "cuda was asked for but no CUDA GPU is visible", ["cpu", "auto"])
    if spec.device == "cpu" or (spec.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda", torch.cuda.current_device())  # a Ray Train worker has set its own GPU


def run_trial(spec: TrialSpec, out_root: str | Path = "caseray_out/trials", on_report: Reporter | None = None,
              stop_after: int | None = None, runtime: Runtime = Runtime(),
              checkpoints: Checkpoints | None = None, cache: str | Path | None = None,
              run_pretraining: bool = True) -> TrialResult:
    """Train and evaluate one trial. ``on_report(step, metrics)`` receives training progress on every
    rank (e.g. for Ray or MLflow; the final metrics are the result's); ``stop_after`` stops training at
    that step without evaluating (a stand-in for a crash). ``runtime`` picks the engine (one process,
    DDP, DeepSpeed); ``checkpoints`` defaults to ``<out>/checkpoints/`` when the spec asks for them;
    ``cache``: the datasets' folder (default ``data.datasets.cache_dir()``); ``run_pretraining``: a
    trial with ``init`` runs its unfinished pretraining trial first (else: refused).
    Ranks other than 0 train and return empty metrics; rank 0 evaluates and writes every output."""
    finished = load_result(spec, out_root)
    if finished is not None:
        return finished
    check_curve(spec, runtime)
    made = next((p for p in (Path(out_root), Path(out_root) / spec.name) if not p.exists()), None)
    seconds: dict[str, float] = {}  # where the trial's time goes (``time/<phase>_s`` in its metrics)
    try:
        with timed(seconds, "dataset"):
            prepared = prepare(spec, out_root, runtime, cache, run_pretraining)
        with timed(seconds, "fit"):
            fitted = fit(spec, prepared, runtime, checkpoints, on_report, stop_after)
    except SpecError:  # bad input found only by loading it (a folder transformers cannot read): nothing left
        if made is not None and world()[0] == 0:
            shutil.rmtree(made, ignore_errors=True)
        raise
    if not fitted.complete or world()[0] != 0:
        return TrialResult(spec.name, prepared.out, {})
    return evaluate_and_write(spec, prepared, fitted, seconds)


def prepare(spec: TrialSpec, out_root: str | Path, runtime: Runtime, cache: str | Path | None = None,
            run_missing: bool = True) -> Prepared:
    """Phase 1: tokenizer, dataset and training rows; rank 0 writes ``spec.json`` and ``tokenizer/``."""
    out = Path(out_root) / spec.name
    device = resolve_device(spec)
    torch.set_num_threads(spec.threads)
    tokenizer = build_tokenizer(spec.tokenizer)
    if world()[0] == 0:
        with writing(out, "the trial's spec and tokenizer"):
            out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(out / "spec.json", json.dumps(spec.to_dict(), indent=2))
            records = spec.folder_records()
            if records:  # read back where the folders are not (caseray.core.local_folders)
                write_text_atomic(out / FOLDERS_FILE, json.dumps(records, indent=2))
            tokenizer.save(out / "tokenizer")
    table = load_dataset(spec.data_spec(), cache, tokenizer=tokenizer)
    train_rows, extra = table.filter(pc.equal(table["split"], "train")), {}
    if spec.lema is not None:  # CoT + correction examples (caseray.lema)
        if world()[1] > 1:
            raise SpecError("lema", "a LEMA trial runs in one process", ["resources.backend: inline"])
        def run_base(base):
            return run_trial(base, out_root, runtime=runtime, cache=cache)

        train_rows, extra = lema_training_rows(spec, table, tokenizer, device, out, run_base=run_base)
    # (plain training rows are rows of the table; LEMA's corrections are longer, and its model starts
    # from the CoT trial's initial weights, its position table widened: ``build_model``'s init_len)
    init_len = longest_row(table)
    max_len = longest_row(table, train_rows) if spec.lema is not None else init_len
    return Prepared(out, device, tokenizer, table, train_rows, extra, max_len, init_len,
                    pretrained(spec, out_root, runtime, cache, run_missing))


def pretrained(spec: TrialSpec, out_root: str | Path, runtime: Runtime, cache, run_missing: bool) -> Path | None:
    """The saved model of ``spec.init``'s pretraining trial, run first here if it has not finished
    (``run_missing``; a sweep runs it in a wave of its own before its fine-tunes, and says not to)."""
    if spec.init is None:
        return None
    pre = spec.init.trial
    if load_result(pre, out_root) is None:
        if not run_missing:
            raise RuntimeError(f"trial {spec.name} starts from trial {pre.name}, which has not finished in "
                               f"{out_root}")
        run_trial(pre, out_root, runtime=runtime, cache=cache)
    model = Path(out_root) / pre.name / "model"
    if not (model / "config.json").is_file():
        raise RuntimeError(f"trial {pre.name} finished without saving its model: trial {spec.name} cannot start "
                           "from it")
    return model


def fit(spec: TrialSpec, prepared: Prepared, runtime: Runtime, checkpoints: Checkpoints | None,
        on_report: Reporter | None, stop_after: int | None) -> Fitted:
    """Phase 2: build the model from the seed, train ``total_steps`` (resuming from a checkpoint)."""
    p = prepared
    torch.manual_seed(spec.seed)
    train_len = longest_row(p.train_rows)  # (logn attention's base)

    def new_model():
        return build_model(spec.model, p.tokenizer, max_len=p.max_len, init_len=p.init_len, train_len=train_len,
                           start_from=p.start_from)

    model = new_model()
    total = spec.train.total_steps(p.train_rows.num_rows)
    engine = build_engine(model, spec.train, schedule_fn(spec.train, total), p.device, runtime)
    if checkpoints is None and spec.train.checkpoint_every:
        checkpoints = LocalCheckpoints(p.out / "checkpoints")

    def log(step, figures):
        if on_report is not None:
            on_report(step, {f"train/{k}": v for k, v in figures.items()})

    positions = spec.positions()
    rows = make_batchable(p.train_rows, p.tokenizer.bos_id, p.tokenizer.pad_id, places=positions.coupled,
                          rule=positions.rule)
    curve = None
    if spec.eval.curve_every:
        curve = Curve(spec, p.table, p.tokenizer, engine.module, p.device, p.out, on_report)
    figures = train(engine, rows, spec.train, total, spec.seed, checkpoints=checkpoints, on_log=log,
                    stop_after=stop_after, positions=positions, curve=curve, curve_every=spec.eval.curve_every)
    complete = stop_after is None or stop_after >= total
    return Fitted(engine.full_model(new_model), figures, complete, curve)


def evaluate_and_write(spec: TrialSpec, prepared: Prepared, fitted: Fitted, seconds: dict) -> TrialResult:
    """Phase 3 (rank 0): evaluate every cell, summarise, draw, save the model; ``metrics.json`` last,
    with ``seconds``, each phase's time (evaluation's parts added here)."""
    p, out = prepared, prepared.out
    cells = evaluate_cells(spec, fitted.model, evaluation_rows(spec, p.table), p.tokenizer, p.device, seconds)
    with writing(out / "cells.parquet", "every cell's outputs"):
        write_parquet_atomic(cells, out / "cells.parquet")
    task = build_task(spec.task)
    metrics = trial_metrics(spec, task, cells)
    metrics.update({f"train/{k}": v for k, v in fitted.figures.items()})  # resumed_from: 0 unless restarted
    metrics["n_params"] = count_parameters(fitted.model)
    metrics.update(p.extra_metrics)
    with timed(seconds, "write"):  # the figures and the model
        if spec.lengths is not None:
            with writing(out / "holemap.png", "the trial's figure"):
                plot_lengths(spec, metrics, out / "holemap.png", cells)
        else:
            squares = tuple(resolve_squares(task, spec.split))
            with writing(out / "holemap.png", "the trial's figure"):
                plot_holemap(spec, task, cells, squares, metrics, out / "holemap.png")
            with writing(out / "holemap.html", "the trial's interactive hole map"):
                write_holemap_html(spec, cells, "<br>".join(holemap_title(spec, task, metrics, squares)),
                                   out / "holemap.html")
        if fitted.curve is not None:
            with writing(out / CURVE, "the held-out curve"):
                plot_curve(fitted.curve.write(out), out / CURVE_FIGURE, f"{spec.label}\nexact match during training")
        if spec.save_model:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            with writing(out / "model", "the trained model"):
                save_trained(spec.model, fitted.model, out / "model")
                p.tokenizer.save_hf(out / "model")  # one folder Hugging Face alone loads (AutoTokenizer, pipeline)
    metrics.update(seconds)
    with writing(out / DONE, "the trial's metrics"):
        write_text_atomic(out / DONE, json.dumps(metrics, indent=2))  # last: marks the trial done
    return TrialResult(spec.name, out, metrics)
