"""The training loop: AdamW, warm-up + cosine (or linear / constant) schedule, loss on the answer
only, exact seeding, and checkpoints that resume bit-identically on CPU.

The loop is the same in one process and on N data-parallel ranks: batch ``step`` is a pure function
of (seed, step) and rank r takes rows r, r+N, ... of it, so the global batch does not depend on N.
With ``length_buckets`` > 1 each batch is drawn from rows of similar length (less padding).
"""

from __future__ import annotations

import math
import time
from typing import Callable, Protocol

import torch

from caseray.train.batches import Batchable
from caseray.train.engine import Engine, all_mean, world
from caseray.train.positions import Positions, batch_generator
from caseray.train.spec import TrainSpec


def lr_factor(step: int, total: int, warmup: float, schedule: str) -> float:
    warm = int(round(warmup * total))
    if step < warm:
        return (step + 1) / warm
    if schedule == "constant":
        return 1.0
    progress = (step - warm) / max(1, total - warm)
    return 0.5 * (1 + math.cos(math.pi * progress)) if schedule == "cosine" else 1.0 - progress


def schedule_fn(spec: TrainSpec, total_steps: int) -> Callable[[int], float]:
    return lambda s: lr_factor(s, total_steps, spec.warmup, spec.schedule)


def local_engine(model, spec: TrainSpec, total_steps: int, device: torch.device) -> Engine:
    """A one-process engine for ``model`` (what ``run_trial`` builds without a runtime)."""
    return Engine(model, spec, schedule_fn(spec, total_steps), device)


class BatchOrder:
    """Which rows make batch ``step``: a fresh seeded permutation every epoch, so the order is a pure
    function of (seed, step) and a resumed run sees exactly the batches an uninterrupted one would."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = n, min(batch_size, n), seed
        self.per_epoch = max(1, n // self.batch_size)
        self._epoch, self._batches = -1, None

    def __call__(self, step: int) -> torch.Tensor:
        epoch, j = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._batches = epoch, self.epoch_batches(g)
        return self._batches[j]

    def epoch_batches(self, g: torch.Generator) -> torch.Tensor:
        """The epoch's batches, (per_epoch, batch_size) row indices drawn with ``g``."""
        used = self.per_epoch * self.batch_size
        return torch.randperm(self.n, generator=g)[:used].view(self.per_epoch, self.batch_size)


class BucketedBatchOrder(BatchOrder):
    """Batches of similar length: rows sorted by length are cut into ``buckets`` of (nearly) equal
    size; every epoch permutes each bucket, cuts it into full batches and shuffles all of them.
    Each row is seen once per epoch (but for a remainder < batch_size per bucket), and a batch never
    mixes buckets, so it pads to about its own rows' length."""

    def __init__(self, lengths: torch.Tensor, batch_size: int, seed: int, buckets: int):
        super().__init__(len(lengths), batch_size, seed)
        k = max(1, min(buckets, self.n // self.batch_size))  # every bucket holds at least one batch
        self.buckets = torch.tensor_split(torch.argsort(lengths, stable=True), k)
        self.per_epoch = sum(len(b) // self.batch_size for b in self.buckets)

    def epoch_batches(self, g: torch.Generator) -> torch.Tensor:
        size = self.batch_size
        batches = torch.cat([b[torch.randperm(len(b), generator=g)][:len(b) // size * size].view(-1, size)
                             for b in self.buckets])
        return batches[torch.randperm(len(batches), generator=g)]


def batch_order(data: Batchable, spec: TrainSpec, seed: int) -> BatchOrder:
    """The length-bucketed order when ``spec.length_buckets`` > 1, else the plain one."""
    if spec.length_buckets > 1:
        return BucketedBatchOrder(data.lengths, spec.batch_size, seed, spec.length_buckets)
    return BatchOrder(len(data), spec.batch_size, seed)


class Checkpoints(Protocol):
    def restore(self, engine: Engine) -> int: ...

    def save(self, engine: Engine, step: int, metrics: dict) -> None: ...


def step_inputs(data: Batchable, batch, step: int, seed: int, positions: Positions, device):
    """This rank's share of batch ``step``: ids, labels, mask and ``position_ids`` (None for a model
    that numbers its own). Position ids are drawn for the whole batch, so they do not depend on the
    world size."""
    rank, size = world()
    ids, labels, mask = (t.to(device, non_blocking=True) for t in data.take(batch[rank::size]))
    if not positions.explicit:
        return ids, labels, mask, None
    shape = (len(batch), int(data.lengths[batch].max()))
    places, spans = data.take_places(batch)
    pos = positions.ids(places, shape, batch_generator(seed, step), spans)
    return ids, labels, mask, pos[rank::size, :ids.shape[1]].to(device, non_blocking=True)


class CurvePoints:
    """``train``'s held-out curve: ``curve(step)`` at step 0, every ``every`` steps and the last, the
    model put back in training mode after, its time kept apart (``seconds``: not training's)."""

    def __init__(self, curve: Callable[[int], None] | None, every: int, total: int, module):
        self.curve, self.every, self.total, self.module, self.seconds = curve, every, total, module, 0.0

    def at(self, step: int) -> None:
        if self.curve is not None and (step % self.every == 0 or step == self.total):
            began = time.perf_counter()
            self.curve(step)
            self.module.train()
            self.seconds += time.perf_counter() - began


class Progress:
    """The loop's running figures: loss over the steps since the last report, tokens per second over
    the run (the curve's time left out), the last figures reported."""

    def __init__(self, device, points: CurvePoints):
        self.loss_sum, self.tokens, self.window, self.points = torch.zeros((), device=device), 0, 0, points
        self.t0, self.last_loss, self.figures = time.perf_counter(), float("nan"), {}

    def add(self, loss: torch.Tensor, mask: torch.Tensor) -> None:
        self.loss_sum += loss.detach()
        self.tokens += int(mask.sum())
        self.window += 1

    def seconds(self) -> float:
        return time.perf_counter() - self.t0 - self.points.seconds

    def report(self, step: int, engine: Engine, on_log) -> None:
        """Figures averaged over ranks (``on_log`` on every rank)."""
        rate = self.tokens / max(self.seconds(), 1e-9)
        self.last_loss, mean_rate = all_mean([float(self.loss_sum) / self.window, rate], engine.device)
        self.figures = {"loss": self.last_loss, "lr": engine.lr(), "tokens_per_s": mean_rate * world()[1]}
        if on_log is not None:
            on_log(step, self.figures)
        self.loss_sum.zero_()
        self.window = 0


def train(engine: Engine, data: Batchable, spec: TrainSpec, total_steps: int, seed: int,
          checkpoints: Checkpoints | None = None, on_log: Callable[[int, dict], None] | None = None,
          stop_after: int | None = None, positions: Positions = Positions(),
          curve: Callable[[int], None] | None = None, curve_every: int = 0) -> dict:
    """Train for ``total_steps``, resuming from ``checkpoints`` if they hold one.

    ``on_log(step, figures)`` is called on every rank with figures averaged over ranks.
    ``stop_after`` ends the loop early at that step (as a crash would) -- for resume tests.
    ``positions`` gives the ``position_ids`` (coupled: offsets drawn from (seed, step), then split by rank).
    ``curve(step)`` (every rank) scores the model at step 0, every ``curve_every`` steps and the last
    (``CurvePoints``; its time is left out of tokens/s).
    Returns the final training figures.
    """
    engine.module.train()
    start = checkpoints.restore(engine) if checkpoints is not None else 0
    order = batch_order(data, spec, seed)
    end = total_steps if stop_after is None else min(total_steps, stop_after)
    points = CurvePoints(curve, curve_every, total_steps, engine.module)
    progress = Progress(engine.device, points)
    if start == 0:
        points.at(0)
    for step in range(start, end):
        ids, labels, mask, pos = step_inputs(data, order(step), step, seed, positions, engine.device)
        loss = engine.loss(ids, labels, mask, pos)
        engine.step(loss)
        progress.add(loss, mask)
        done = step + 1
        if done % spec.log_every == 0 or done == end:
            progress.report(done, engine, on_log)
        points.at(done)
        if checkpoints is not None and spec.checkpoint_every and done % spec.checkpoint_every == 0:
            checkpoints.save(engine, done, progress.figures)
    elapsed = progress.seconds()
    return {"final_loss": progress.last_loss, "steps": end, "resumed_from": start, "train_seconds": elapsed,
            "tokens_per_s": progress.figures.get("tokens_per_s", progress.tokens / max(elapsed, 1e-9))}
