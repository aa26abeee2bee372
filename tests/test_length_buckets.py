"""Length-bucketed batch order: deterministic in (seed, step), every row once per epoch, batches of
similar length (less padding), and a bucketed training run that learns and resumes bit-identically."""

import numpy as np
import pyarrow as pa
import pytest
import torch

from caseray.data.datasets import GridDataSpec, load_dataset
from caseray.data.splits import SplitSpec
from caseray.data.tasks import TaskSpec
from caseray.data.tokenizers import build_tokenizer
from caseray.train.batches import Batchable, make_batchable
from caseray.train.checkpoints import LocalCheckpoints
from caseray.train.loop import BatchOrder, BucketedBatchOrder, batch_order, local_engine, train
from caseray.train.models import ModelSpec, build_model
from caseray.train.spec import TrainSpec


def mixed_lengths(n: int = 1000, seed: int = 0) -> Batchable:
    """Rows of 3..200 tokens (a short prompt, a target of any length), lengths uniformly spread."""
    rng = np.random.default_rng(seed)
    t_len = rng.integers(1, 198, n)
    prompts = [[5, 6] for _ in range(n)]
    targets = [list(rng.integers(7, 20, k)) for k in t_len]
    table = pa.table({"prompt_ids": prompts, "target_ids": targets})
    return make_batchable(table, bos_id=1, pad_id=0)


def padding_fraction(data: Batchable, order: BatchOrder, steps: int) -> float:
    real = padded = 0
    for step in range(steps):
        _, _, mask = data.take(order(step))
        real, padded = real + int(mask.sum()), padded + mask.numel()
    return 1 - real / padded


def test_order_is_a_pure_function_of_seed_and_step():
    lengths = mixed_lengths().lengths
    walked = BucketedBatchOrder(lengths, 32, seed=7, buckets=4)
    batches = [walked(s) for s in range(100)]  # three epochs and a bit
    for k in (0, 31, 45, 99):  # computed cold, in a fresh order
        assert torch.equal(BucketedBatchOrder(lengths, 32, seed=7, buckets=4)(k), batches[k])
    other = BucketedBatchOrder(lengths, 32, seed=8, buckets=4)
    assert not all(torch.equal(other(s), batches[s]) for s in range(10))


def test_every_row_once_per_epoch_and_each_batch_in_one_bucket():
    data = mixed_lengths()
    order = BucketedBatchOrder(data.lengths, 32, seed=0, buckets=4)
    assert order.per_epoch == 4 * (250 // 32)
    bucket_of = torch.empty(len(data), dtype=torch.long)
    for i, rows in enumerate(order.buckets):
        bucket_of[rows] = i
    for epoch in range(2):
        rows = torch.cat([order(epoch * order.per_epoch + j) for j in range(order.per_epoch)])
        assert len(rows.unique()) == len(rows) == order.per_epoch * 32  # no row twice
        assert len(data) - len(rows) < 4 * 32  # left out: a remainder per bucket
        for j in range(order.per_epoch):
            batch = order(epoch * order.per_epoch + j)
            assert len(bucket_of[batch].unique()) == 1
            spread = data.lengths[batch]
            assert spread.max() - spread.min() <= 60  # a quarter of the 3..200 range, and then some
    # every epoch leaves out other rows, and batches come in another order
    first = {tuple(order(j).tolist()) for j in range(order.per_epoch)}
    second = {tuple(order(order.per_epoch + j).tolist()) for j in range(order.per_epoch)}
    assert not first & second


def test_bucketing_pads_less():
    data = mixed_lengths()
    plain = padding_fraction(data, BatchOrder(len(data), 32, 0), 100)
    bucketed = padding_fraction(data, BucketedBatchOrder(data.lengths, 32, 0, 4), 100)
    assert plain > 0.4 and bucketed < plain / 2


@pytest.mark.parametrize("buckets", [0, 1])
def test_off_is_the_plain_order(buckets):
    data = mixed_lengths(100)
    order = batch_order(data, TrainSpec(batch_size=16, length_buckets=buckets), 3)
    assert type(order) is BatchOrder
    assert all(torch.equal(order(s), BatchOrder(100, 16, 3)(s)) for s in range(20))


def test_more_buckets_than_batches_keeps_every_bucket_full():
    lengths = torch.arange(40)
    order = BucketedBatchOrder(lengths, 16, 0, buckets=10)
    assert len(order.buckets) == 2 and order.per_epoch == 2


def scratchpad_rows():
    tok = build_tokenizer("digit")
    spec = GridDataSpec(task=TaskSpec("addition", high=19), format="scratchpad", tokenizer="digit",
                        split=SplitSpec(center=(10, 10), half_width=3))
    table = load_dataset(spec, tokenizer=tok)
    table = table.filter(table["split"].to_numpy(zero_copy_only=False) == "train")
    return tok, make_batchable(table, tok.bos_id, tok.pad_id)


def bucketed_run(steps: int, stop_after: int | None = None, checkpoints=None):
    tok, data = scratchpad_rows()
    spec = TrainSpec(steps=steps, lr=3e-3, batch_size=32, log_every=5, checkpoint_every=5, length_buckets=4)
    torch.manual_seed(0)
    model = build_model(ModelSpec(scale="tiny"), tok, int(data.lengths.max()))
    losses = []
    train(local_engine(model, spec, steps, torch.device("cpu")), data, spec, steps, seed=0,
          checkpoints=checkpoints, on_log=lambda step, f: losses.append(f["loss"]), stop_after=stop_after)
    return model, losses


def test_bucketed_training_learns_and_resumes_bit_identically(tmp_path):
    straight, losses = bucketed_run(20)
    assert losses[-1] < 0.6 * losses[0]
    store = LocalCheckpoints(tmp_path / "ckpt")
    bucketed_run(20, stop_after=12, checkpoints=store)  # dies after step 12; checkpoint at 10
    assert [p.name for p in store.steps()] == ["step-00000005", "step-00000010"]
    resumed, _ = bucketed_run(20, checkpoints=store)
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
