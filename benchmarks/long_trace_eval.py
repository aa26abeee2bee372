"""Long traces: greedy evaluation by one teacher-forced pass vs KV-cached HF ``generate()``.

    python benchmarks/long_trace_eval.py [--digits 5 10 15] [--rows 12] [--scale llama-tiny] [--threads 1]

Rule-following traces (``--format``, digit tokens, ``LengthDataSpec``) of n-digit additions: about
2.1k / 4.5k / 7.2k target tokens at 5 / 10 / 15 digits. Each digit group is evaluated both ways with
the functions a trial runs (``evaluate.teacher_forced``, ``evaluate.generate``; --batch-size rows,
at most ``MAX_BATCH_TOKENS`` per pass) on one from-scratch model, one thread by default.

Forced full length: the model is untrained, and its eos logit is set to -inf (a hook on the output
layer, on for both methods), so ``generate()`` writes every row's whole trace (its batch's longest
+ 4 tokens) instead of stopping at a chance eos: both methods process every target token, as for a
model that gets the traces right. The per-row results must be identical -- greedy output == target
iff teacher forcing says correct, and otherwise the same first diverging position and the same
token there -- and, since an untrained model goes wrong at a trace's first token, each generated
trace is fed back as the target: teacher forcing must predict all of it, so the two methods are
compared at every position of every trace. Exit status 1 if not (or if a mean trace is under 300
tokens). Training the model
instead would cost tens of minutes of CPU at these lengths (4-7k training tokens/s, RESULTS.md) and
would still not make a tiny model write 10-15-digit traces right.
"""

import argparse
import json
import time

import numpy as np
import pyarrow as pa
import torch

from caseray.data.datasets import LengthDataSpec, load_dataset
from caseray.data.tokenizers import build_tokenizer
from caseray.train.batches import make_batchable
from caseray.train.evaluate import generate, teacher_forced
from caseray.train.models import ModelSpec, build_model

EXTRA_TOKENS = 4  # generate()'s default: max_new_tokens = the batch's longest target + 4
MIN_TRACE = 300  # the shortest mean trace (target tokens) this benchmark is about
MODE = "forced full length: untrained model, eos logit -inf for both methods"


def digit_table(fmt: str, digits: int, rows: int, tok):
    """``rows`` rule-following additions of ``digits``-digit numbers (the test rows of a length dataset)."""
    spec = LengthDataSpec(format=fmt, train_digits=(digits, digits), test_digits=(digits, digits),
                          train_per_length=0, test_per_length=rows)
    return load_dataset(spec, tokenizer=tok)


def ban_eos(model, eos_id: int):
    """Hook that makes the model never predict eos; ``.remove()`` it to undo."""
    eos = torch.tensor([eos_id], device=model.get_output_embeddings().weight.device)
    return model.get_output_embeddings().register_forward_hook(
        lambda module, inputs, logits: logits.index_fill(-1, eos, -float("inf")))


def divergence(gen: list[int], target: list[int]) -> int:
    """First position where ``gen`` leaves ``target``; -1: equal."""
    if gen == target:
        return -1
    return next((i for i, (g, t) in enumerate(zip(gen, target)) if g != t), min(len(gen), len(target)))


def mismatches(tf, gen: list[list[int]], targets: list[list[int]]) -> int:
    """Rows where ``generate()`` and teacher forcing disagree: on the verdict, or, for a wrong row, on
    the first diverging position or the token greedy decoding wrote there."""
    bad = 0
    for r, (g, t) in enumerate(zip(gen, targets)):
        pos = divergence(g, t)
        if bool(tf.correct[r]) != (pos == -1):
            bad += 1
        elif pos >= 0 and (pos != tf.first_bad[r] or pos >= len(g) or g[pos] != tf.predicted[r]):
            bad += 1
    return bad


def fed_back(model, tok, table, gen: list[list[int]], batch_size: int, device: torch.device) -> tuple[int, int]:
    """Each row's generated trace fed back as its target: teacher forcing must then predict every one
    of its tokens (the same greedy choice at every position, not only up to the first wrong one).
    Returns (rows where it does not, target positions compared)."""
    column = table.schema.get_field_index("target_ids")
    echoed = table.set_column(column, table.schema.field(column), pa.array(gen, table.schema.field(column).type))
    tf = teacher_forced(model, make_batchable(echoed, tok.bos_id, tok.pad_id), batch_size, device)
    return int((~tf.correct).sum()), sum(map(len, gen))


def one_group(model, tok, table, digits: int, batch_size: int, device: torch.device) -> dict:
    """Both evaluations of one digit group, timed, and their per-row agreement."""
    data = make_batchable(table, tok.bos_id, tok.pad_id)
    targets = table["target_ids"].to_pylist()
    t0 = time.perf_counter()
    tf = teacher_forced(model, data, batch_size, device)
    t_tf = time.perf_counter() - t0
    t0 = time.perf_counter()
    gen = [g[0] for g in generate(model, table, tok, device, batch_size=batch_size, extra_tokens=EXTRA_TOKENS)]
    t_gen = time.perf_counter() - t0
    prompt_tokens = int(data.prompt_lengths.sum())  # bos + prompt, fed to both
    bad = mismatches(tf, gen, targets)
    echo_bad, echo_positions = fed_back(model, tok, table, gen, batch_size, device)
    return {"digits": digits, "rows": table.num_rows,
            "mean_prompt_tokens": float(np.mean([len(p) for p in table["prompt_ids"].to_pylist()])),
            "mean_trace_tokens": float(np.mean([len(t) for t in targets])),
            "tf_tokens": int(data.lengths.sum()), "gen_tokens": prompt_tokens + sum(map(len, gen)),
            "tf_s": t_tf, "gen_s": t_gen, "tf_rows_per_s": table.num_rows / t_tf,
            "gen_rows_per_s": table.num_rows / t_gen, "ratio": t_gen / t_tf,
            "tf_correct": int(tf.correct.sum()), "mismatches": bad, "fed_back_mismatches": echo_bad,
            "fed_back_positions": echo_positions, "identical": bad == 0 and echo_bad == 0}


def markdown(groups: list[dict]) -> str:
    lines = ["| digits | rows | trace tokens (mean) | tokens: teacher-forced / generate | teacher-forced s "
             "| generate s | rows/s: teacher-forced / generate | ratio | per-row results |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for g in groups:
        same = "identical" if g["identical"] else \
            f"{g['mismatches']} differ, {g['fed_back_mismatches']} differ fed back"
        lines.append(f"| {g['digits']} | {g['rows']} | {g['mean_trace_tokens']:,.0f} | {g['tf_tokens']:,} / "
                     f"{g['gen_tokens']:,} | {g['tf_s']:.2f} | {g['gen_s']:.2f} | {g['tf_rows_per_s']:.2f} / "
                     f"{g['gen_rows_per_s']:.2f} | {g['ratio']:.1f}x | {same} |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--digits", type=int, nargs="+", default=[5, 10, 15])
    p.add_argument("--rows", type=int, default=12, help="rows per digit length")
    p.add_argument("--scale", default="llama-tiny")
    p.add_argument("--format", default="rule_following", choices=["rule_following", "rule_following_numbered"])
    p.add_argument("--batch-size", type=int, default=1024, help="rows per pass for both (a trial's eval default)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="a tiny run (1- and 2-digit traces, 2 rows each)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = p.parse_args(argv)
    if args.quick:
        args.digits, args.rows = [1, 2], 2
    torch.set_num_threads(args.threads)
    tok = build_tokenizer("digit")
    tables = {d: digit_table(args.format, d, args.rows, tok) for d in args.digits}
    longest = max(int(make_batchable(t, tok.bos_id, tok.pad_id).lengths.max()) for t in tables.values())
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = build_model(ModelSpec(scale=args.scale), tok, longest + EXTRA_TOKENS + 1).to(device)
    hook = ban_eos(model, tok.eos_id)
    with torch.inference_mode():  # warm-up: first-call overheads out of the timings
        model(input_ids=torch.full((1, 16), tok.bos_id, device=device))
    groups = [one_group(model, tok, t, d, args.batch_size, device) for d, t in tables.items()]
    hook.remove()
    result = {"scale": args.scale, "format": args.format, "device": args.device, "threads": args.threads,
              "batch_size": args.batch_size,
              "mode": MODE, "groups": groups, "identical": all(g["identical"] for g in groups),
              "long_enough": all(g["mean_trace_tokens"] >= MIN_TRACE for g in groups)}
    print(json.dumps(result))
    print(f"\n{args.format} addition, digit tokens, {args.scale}, {args.threads} thread(s), {MODE}\n")
    print(markdown(groups))
    print(f"\nper-row results identical: {result['identical']}   "
          f"every mean trace >= {MIN_TRACE} tokens: {result['long_enough']}")
    return result


if __name__ == "__main__":
    out = main()
    raise SystemExit(0 if out["identical"] and out["long_enough"] else 1)
