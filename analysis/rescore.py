"""Re-evaluate a finished trial's saved model with a test-time change -- today ``model.attention: logn``,
which leaves training untouched (its factor is exactly 1 on every training row: tests/test_attention.py)
-- so the same weights are scored both ways, a paired comparison.

    python analysis/rescore.py caseray_out/sweeps/trials/TRIAL --attention logn --out caseray_out/rescored

Writes OUT/<the changed spec's trial name>/: spec.json, cells.parquet, metrics.json (the trial's own
evaluation code and metrics) and rescored_from.txt (the trial whose model it is). The trial must have
been run with ``save_model: true``.
"""
import argparse
import json
from dataclasses import replace
from pathlib import Path

import pyarrow.compute as pc

from caseray.core.atomic import write_text_atomic
from caseray.data.datasets import load_dataset, write_parquet_atomic
from caseray.data.tasks import build_task
from caseray.data.tokenizers import load_tokenizer
from caseray.train.attention import scale_attention
from caseray.train.batches import longest_row
from caseray.train.models import load_trained
from caseray.trial.cells import evaluate_cells, trial_metrics
from caseray.trial.eval_rows import evaluation_rows
from caseray.trial.spec import stored_spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trial", type=Path)
    parser.add_argument("--attention", choices=["logn"], required=True)
    parser.add_argument("--out", type=Path, default=Path("caseray_out/rescored"))
    args = parser.parse_args()
    if not (args.trial / "model" / "config.json").is_file():
        parser.exit(2, f"trial: no saved model in {args.trial} (run it with save_model: true)\n")
    import torch

    torch.set_num_threads(1)
    old = stored_spec(json.loads((args.trial / "spec.json").read_text()))
    spec = replace(old, model=replace(old.model, attention=args.attention))
    tokenizer = load_tokenizer(args.trial / "tokenizer")
    table = load_dataset(spec.data_spec(), tokenizer=tokenizer)
    model = load_trained(old.model, args.trial / "model").eval()
    scale_attention(model, longest_row(table.filter(pc.equal(table["split"], "train"))))
    seconds = {}
    cells = evaluate_cells(spec, model, evaluation_rows(spec, table), tokenizer, torch.device("cpu"), seconds)
    metrics = {**trial_metrics(spec, build_task(spec.task), cells), **seconds}
    out = args.out / spec.name
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "spec.json", json.dumps(spec.to_dict(), indent=2))
    write_text_atomic(out / "rescored_from.txt", f"{args.trial.resolve()}\n")
    write_parquet_atomic(cells, out / "cells.parquet")
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2))
    print(f"{spec.name}: test {metrics['test_acc']:.3f} (was {old.name}); {out}")


if __name__ == "__main__":
    main()
