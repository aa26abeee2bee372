"""Long sequences: tokens/s and peak memory per operand length, and what length bucketing saves.

    python benchmarks/length_throughput.py [--digits 1 3 5 8 12 15] [--scales tiny llama-tiny]

Rule-following traces of n-digit additions (digit tokens, ``LengthDataSpec``), one thread. For each
(scale, n), in a fresh subprocess (so its peak RSS is its own), on batches of about
--tokens-per-batch tokens:
  - teacher-forced evaluation (``evaluate.teacher_forced``) and training steps (caseray's engine) on
    one n-digit row repeated: no padding, so every length runs the same unmasked attention kernel;
  - training steps on distinct n-digit rows, padded to the longest: any padding makes the model pass
    an explicit mask to SDPA, which then takes a slower kernel;
  - sampled generation (``evaluate.generate``, KV cache, samples=2) of one row, at --gen-digits only;
    eos is forbidden so the untrained model writes the whole trace length (+4 tokens).
Memory is ``ru_maxrss`` (the process's peak RSS) after building the model and batches (base), after
the evaluations, after the unpadded and after the padded training steps; each peak covers the
phases before it. Then, in this process: training tokens/s (real tokens only) and padding fraction
on the mixed 1-5-digit training rows with length_buckets 0 vs 4 (same model, steps and batch size).
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from caseray.data.datasets import LengthDataSpec, load_dataset
from caseray.data.tokenizers import build_tokenizer
from caseray.train.batches import Batchable, make_batchable
from caseray.train.evaluate import generate, teacher_forced
from caseray.train.loop import batch_order, local_engine, train
from caseray.train.models import ModelSpec, build_model
from caseray.train.spec import TrainSpec

CPU = torch.device("cpu")


def length_table(max_digits: int, per_length: int):
    """Rule-following additions of 1..max_digits digits, ``per_length`` rows each (1-5 digits: more)."""
    tok = build_tokenizer("digit")
    spec = LengthDataSpec(format="rule_following", train_digits=(1, 5), test_digits=(1, max_digits),
                          train_per_length=per_length, test_per_length=per_length)
    return tok, load_dataset(spec, tokenizer=tok)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def timed(fn, repeats: int) -> float:
    """Seconds per call of ``fn``, after one untimed warm-up call."""
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def generation_rate(model, table, tok) -> float:
    """Generated tokens/s of 2 samples of the first row, eos forbidden (an untrained model would stop early)."""
    eos = torch.tensor([tok.eos_id])
    no_eos = model.get_output_embeddings().register_forward_hook(
        lambda module, inputs, logits: logits.index_fill(-1, eos, -float("inf")))
    t0 = time.perf_counter()
    out = generate(model, table.slice(0, 1), tok, CPU, samples=2)
    seconds = time.perf_counter() - t0
    no_eos.remove()
    return sum(len(s) for s in out[0]) / seconds


def one_length(scale: str, digits: int, args) -> dict:
    """The figures of one (scale, digits) -- run in its own process."""
    torch.set_num_threads(1)
    tok, table = length_table(max(args.digits), args.per_length)
    table = table.filter(table["n_digits"].to_numpy() == digits)
    length = int(make_batchable(table.slice(0, 1), tok.bos_id, tok.pad_id).lengths[0])
    rows = max(1, min(table.num_rows, args.tokens_per_batch // length))
    same = make_batchable(table.take([0] * rows), tok.bos_id, tok.pad_id)  # one row repeated: no padding
    distinct = make_batchable(table.slice(0, rows), tok.bos_id, tok.pad_id)  # padded to the longest
    torch.manual_seed(0)
    model = build_model(ModelSpec(scale=scale), tok, int(distinct.lengths.max()) + 8)
    out = {"scale": scale, "digits": digits, "length": length, "rows": rows, "rss_base": rss_mb(),
           "padding": 1 - float(distinct.attention_mask.float().mean())}
    out["eval_tps"] = rows * length / timed(lambda: teacher_forced(model, same, rows, CPU), args.repeats)
    if digits in args.gen_digits:
        out["gen_tps"] = generation_rate(model, table, tok)
    out["rss_eval"] = rss_mb()
    spec = TrainSpec(lr=1e-3, batch_size=rows, warmup=0.0, schedule="constant")
    engine = local_engine(model, spec, 1, CPU)
    engine.module.train()
    for name, data in (("train", same), ("padded", distinct)):
        ids, labels, mask = data.take(torch.arange(rows))
        out[f"{name}_tps"] = int(mask.sum()) / timed(lambda: engine.step(engine.loss(ids, labels, mask)),
                                                     args.repeats)
        out[f"rss_{name}"] = rss_mb()
    return out


def padding_fraction(data: Batchable, spec: TrainSpec, steps: int) -> float:
    order = batch_order(data, spec, 0)
    masks = [data.take(order(s))[2] for s in range(steps)]
    return 1 - sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks)


def bucketing(args) -> list[dict]:
    """Training tokens/s and padding on the 1-5-digit training rows, length_buckets 0 vs 4."""
    torch.set_num_threads(1)
    tok, table = length_table(max(args.digits), args.per_length)
    table = table.filter(table["split"].to_numpy(zero_copy_only=False) == "train")
    data = make_batchable(table, tok.bos_id, tok.pad_id)
    out = []
    for buckets in (0, 4):
        spec = TrainSpec(steps=args.bucket_steps, lr=1e-3, batch_size=args.bucket_batch, log_every=10**9,
                         length_buckets=buckets)
        torch.manual_seed(0)
        model = build_model(ModelSpec(scale="tiny"), tok, int(data.lengths.max()))
        t0 = time.perf_counter()
        figures = train(local_engine(model, spec, spec.steps, CPU), data, spec, spec.steps, seed=0)
        out.append({"buckets": buckets, "tps": figures["tokens_per_s"], "seconds": time.perf_counter() - t0,
                    "padding": padding_fraction(data, spec, spec.steps)})
    return out


def in_subprocess(scale: str, digits: int) -> dict:
    cmd = [sys.executable, __file__, "--child", scale, str(digits)] + sys.argv[1:]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def lengths_table(results: list[dict]) -> str:
    lines = ["| model | digits | tokens/row | rows/batch | train tok/s | padded train tok/s (padding) "
             "| teacher-forced tok/s | generate tok/s | base RSS MB | eval peak +MB | train peak +MB "
             "| padded train peak +MB |", "|---|" + "---:|" * 11]
    for r in results:
        gen = f"{r['gen_tps']:,.0f}" if "gen_tps" in r else "-"
        peaks = " | ".join(f"{r[k] - r['rss_base']:,.0f}" for k in ("rss_eval", "rss_train", "rss_padded"))
        lines.append(f"| {r['scale']} | {r['digits']} | {r['length']:,} | {r['rows']} | {r['train_tps']:,.0f} "
                     f"| {r['padded_tps']:,.0f} ({r['padding']:.1%}) | {r['eval_tps']:,.0f} | {gen} "
                     f"| {r['rss_base']:,.0f} | {peaks} |")
    return "\n".join(lines)


def bucket_table(results: list[dict]) -> str:
    lines = ["| length_buckets | train tok/s | padding | seconds |", "|---:|---:|---:|---:|"]
    lines += [f"| {r['buckets']} | {r['tps']:,.0f} | {r['padding']:.1%} | {r['seconds']:.1f} |" for r in results]
    ratio = results[1]["tps"] / results[0]["tps"]
    return "\n".join(lines) + f"\n\ntokens/s ratio, buckets 4 / 0: {ratio:.2f}x"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", nargs=2, metavar=("SCALE", "DIGITS"), help=argparse.SUPPRESS)
    p.add_argument("--digits", type=int, nargs="+", default=[1, 3, 5, 8, 12, 15])
    p.add_argument("--gen-digits", type=int, nargs="+", default=[1, 5, 12])
    p.add_argument("--scales", nargs="+", default=["tiny", "llama-tiny"])
    p.add_argument("--tokens-per-batch", type=int, default=8192, help="rows per batch: this // row length")
    p.add_argument("--repeats", type=int, default=3, help="timed steps / passes after one warm-up")
    p.add_argument("--per-length", type=int, default=16, help="rows per digit length in the dataset")
    p.add_argument("--bucket-steps", type=int, default=16)
    p.add_argument("--bucket-batch", type=int, default=8)
    args = p.parse_args()
    if args.child:
        print(json.dumps(one_length(args.child[0], int(args.child[1]), args)))
        return
    length_table(max(args.digits), args.per_length)  # build the cached dataset once, before the children
    results = [in_subprocess(scale, d) for scale in args.scales for d in args.digits]
    print(f"rule_following addition, digit tokens, 1 thread, ~{args.tokens_per_batch} tokens per batch, "
          f"{args.repeats} timed steps after a warm-up\n")
    print(lengths_table(results))
    print(f"\nmixed 1-5-digit training rows, tiny model, batch {args.bucket_batch}, {args.bucket_steps} steps\n")
    print(bucket_table(bucketing(args)))


if __name__ == "__main__":
    main()
