"""Set-up shared by the model benchmarks: the grid dataset of a (format, tokenizer) and its tensors."""

import argparse

import torch

from caseray.data.datasets import load_dataset
from caseray.data.tokenizers import build_tokenizer
from caseray.train.batches import make_batchable
from caseray.trial.spec import TrialSpec


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="direct")
    p.add_argument("--tokenizer", default="number")
    p.add_argument("--threads", type=int, default=1)


def grid_data(args, split: str | None = None):
    """(spec, tokenizer, table, tensors) of the default 100x100 addition grid; ``split`` keeps those rows."""
    torch.set_num_threads(args.threads)
    spec = TrialSpec(format=args.format, tokenizer=args.tokenizer)
    tok = build_tokenizer(spec.tokenizer)
    table = load_dataset(spec.data_spec(), tokenizer=tok)
    if split is not None:
        table = table.filter(table["split"].to_numpy(zero_copy_only=False) == split)
    return spec, tok, table, make_batchable(table, tok.bos_id, tok.pad_id)
