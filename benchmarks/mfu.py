"""Model FLOPs utilisation of the trial's training step on a GPU (goal for gpt2-124m in bf16: >= 40%).

Runs caseray's own engine (AdamW, bf16 autocast, the trial's loss) on full-length random sequences
and reports achieved model FLOPs (6 N per token for the weights + 12 L d T for attention, as in the
PaLM appendix) against the GPU's dense bf16 peak.

    python benchmarks/mfu.py --scale gpt2-124m --batch-size 16 --seq-len 1024 [--compile]
"""

import argparse
import time

import torch

from caseray.data.tokenizers import build_tokenizer
from caseray.train.loop import local_engine
from caseray.train.models import ModelSpec, build_model
from caseray.train.spec import TrainSpec

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12}  # dense, no sparsity


def peak_flops(name: str) -> float:
    for key, value in PEAK_BF16.items():
        if key in name:
            return value
    raise SystemExit(f"unknown GPU {name!r}: add its dense bf16 peak to PEAK_BF16")


def measure(scale: str = "gpt2-124m", batch_size: int = 16, seq_len: int = 1024, steps: int = 30,
            warmup: int = 10, compile: bool = False, device: str = "cuda") -> dict:
    """Time ``steps`` training steps after ``warmup``; MFU against the GPU's dense bf16 peak (None on CPU)."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
    tok = build_tokenizer("digit")
    model = build_model(ModelSpec(scale=scale), tok, max_len=seq_len)
    n_params = sum(p.numel() for p in model.parameters())
    cfg = model.config
    spec = TrainSpec(steps=steps + warmup, lr=1e-4, batch_size=batch_size, precision="bf16",
                     warmup=0.0, schedule="constant")
    engine = local_engine(model, spec, spec.steps, device)
    if compile:
        engine.forward_module = torch.compile(engine.forward_module)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, tok.vocab_size, (batch_size, seq_len), generator=g).to(device)
    mask = torch.ones_like(ids)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    t_first = time.perf_counter()
    for step in range(warmup + steps):
        if step == warmup:
            sync()
            t0 = time.perf_counter()
            warmup_s = t0 - t_first
        engine.step(engine.loss(ids, ids, mask))
    sync()
    seconds = time.perf_counter() - t0
    tokens_per_s = steps * batch_size * seq_len / seconds
    flops_per_token = 6 * n_params + 12 * cfg.num_hidden_layers * cfg.hidden_size * seq_len
    name = torch.cuda.get_device_name() if cuda else "cpu"
    mfu = tokens_per_s * flops_per_token / peak_flops(name) if cuda else None
    return {"device": name, "scale": scale, "params_m": round(n_params / 1e6, 1), "batch_size": batch_size,
            "seq_len": seq_len, "compile": compile, "warmup_s": round(warmup_s, 2),
            "ms_per_step": round(seconds / steps * 1e3, 2), "tokens_per_s": round(tokens_per_s),
            "mfu": None if mfu is None else round(mfu, 4),
            "peak_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", default="gpt2-124m")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA GPU")
    r = measure(args.scale, args.batch_size, args.seq_len, args.steps, args.warmup, args.compile)
    print(f"{r['device']}: {r['scale']} ({r['params_m']:.0f}M), bf16, batch {r['batch_size']} x {r['seq_len']}, "
          f"compile={r['compile']}")
    print(f"{r['tokens_per_s']:,} tokens/s, {r['ms_per_step']:.1f} ms/step, MFU {r['mfu']:.1%} (goal >= 40%)")


if __name__ == "__main__":
    main()
