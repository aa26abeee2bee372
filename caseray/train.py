"""The training loop: AdamW, warm-up + cosine (or linear / constant) schedule, loss on the answer
only, exact seeding, and checkpoints that resume bit-identically on CPU."""

from __future__ import annotations

import contextlib
import math
import time
from typing import Callable

import torch

from caseray.batches import Batchable, shifted_loss
from caseray.checkpoints import load_latest, rng_state, save_checkpoint, set_rng_state
from caseray.trial_spec import TrainSpec


def lr_factor(step: int, total: int, warmup: float, schedule: str) -> float:
    warm = int(round(warmup * total))
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    progress = (step - warm) / max(1, total - warm)
    return 0.5 * (1 + math.cos(math.pi * progress)) if schedule == "cosine" else 1.0 - progress


class BatchOrder:
    """Which rows make batch ``step``: a fresh seeded permutation every epoch, so the order is a pure
    function of (seed, step) and a resumed run sees exactly the batches an uninterrupted one would."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = n, min(batch_size, n), seed
        self.per_epoch = max(1, n // self.batch_size)
        self._epoch, self._perm = -1, None

    def __call__(self, step: int) -> torch.Tensor:
        epoch, j = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=g)
        return self._perm[j * self.batch_size:(j + 1) * self.batch_size]


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(model, data: Batchable, spec: TrainSpec, total_steps: int, seed: int, device: torch.device,
          checkpoint_dir=None, on_log: Callable[[int, dict], None] | None = None,
          stop_after: int | None = None) -> dict:
    """Train ``model`` for ``total_steps`` (resuming from ``checkpoint_dir`` if it holds one).

    ``stop_after`` ends the loop early at that step (as a crash would) -- for resume tests.
    Returns the final training figures.
    """
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total_steps, spec.warmup, spec.schedule))
    start = 0
    state = load_latest(checkpoint_dir) if checkpoint_dir else None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        start = int(state["step"])
    order = BatchOrder(len(data), spec.batch_size, seed)
    loss_sum, seen_tokens, t0 = torch.zeros((), device=device), 0, time.perf_counter()
    last_loss, window = float("nan"), 0
    end = total_steps if stop_after is None else min(total_steps, stop_after)
    for step in range(start, end):
        ids, labels, mask = (t.to(device, non_blocking=True) for t in data.take(order(step)))
        with autocast(device, spec.precision):
            logits = model(input_ids=ids, attention_mask=mask).logits
        loss = shifted_loss(logits, labels)
        loss.backward()
        if spec.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, spec.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss_sum += loss.detach()
        seen_tokens += int(mask.sum())
        window += 1
        done = step + 1
        if done % spec.log_every == 0 or done == total_steps:
            last_loss = float(loss_sum) / window
            elapsed = time.perf_counter() - t0
            if on_log is not None:
                on_log(done, {"loss": last_loss, "lr": scheduler.get_last_lr()[0],
                              "tokens_per_s": seen_tokens / max(elapsed, 1e-9)})
            loss_sum.zero_()
            window = 0
        if checkpoint_dir and spec.checkpoint_every and done % spec.checkpoint_every == 0:
            save_checkpoint(checkpoint_dir, done, {
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": rng_state()})
    elapsed = time.perf_counter() - t0
    return {"final_loss": last_loss, "steps": end, "resumed_from": start,
            "train_seconds": elapsed, "tokens_per_s": seen_tokens / max(elapsed, 1e-9)}
