"""What one trial costs, without running it: parameters N (the model built on the meta device: shapes
only), the padded sequence length T of its own dataset, training tokens = steps x batch x T, model
FLOPs (6 N + 12 L d T per training token, as benchmarks/mfu.py counts them; 2 N + 4 L d T per
evaluated token) and, from measured throughputs, its seconds. No Ray, no training; datasets are read
from (or built into) the usual parquet cache."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from caseray.core.specs import from_dict
from caseray.data.datasets import load_dataset
from caseray.data.splits import make_split
from caseray.data.tasks import build_task
from caseray.data.tokenizers import build_tokenizer
from caseray.train.models import build_model
from caseray.trial.eval_rows import evaluation_mask
from caseray.trial.spec import TrialSpec

# --- Measured inputs: the one place they live -------------------------------------------------
# CPU: benchmarks/RESULTS.md "Sweep plans (issue 8)": `python benchmarks/train_throughput.py --scale S`
# (the trial loop, addition 0-99 direct/number, batch 128, 1 thread, 2-core dev machine), turned into
# FLOP/s per core with that trial's own FLOPs per token. Larger models run more FLOP/s per core, so a
# scale that was not measured takes the measured one nearest in parameters.
CPU_TOKENS_PER_S = {"tiny": 22_557, "small": 3_800, "base": 1_283}
CPU_BENCH_TRIAL = {"format": "direct", "tokenizer": "number"}
# Fixed seconds per trial: RESULTS.md "What Ray costs a sweep (issue 4)". Inline: 12 trials on 2 slots
# took 19 s over the ideal (3.2 s a trial), rounded up for the trial's own set-up and writes; Ray
# Train: 25-30 s to place, start and tear down a worker group.
OVERHEAD_S = {"inline": 5.0, "ddp": 30.0, "deepspeed": 30.0}
# GPU: gpt2-124m's training step measured 0.27 (eager) / 0.31 (torch.compile) of the bf16 peak on one
# H200 (benchmarks/RESULTS.md "GPU rehearsal"); smaller models reach less, and are floored below.
ASSUMED_MFU = 0.3
# A GPU training step takes at least this: four 0.42M-parameter trials sharing one H200 took 8.2-8.7 s
# for 600 steps each (RESULTS.md "GPU rehearsal"): kernel launches, not FLOPs, bound such steps.
GPU_STEP_FLOOR_S = 0.014
# Dense peak FLOP/s by training precision. bf16 as benchmarks/mfu.py's PEAK_BF16 (kept here because
# benchmarks/ is not part of the package); fp32 is the non-tensor-core peak: caseray leaves TF32 off.
PEAK_FLOPS = {"H100": {"bf16": 989e12, "fp32": 67e12}, "H200": {"bf16": 989e12, "fp32": 67e12},
              "A100": {"bf16": 312e12, "fp32": 19.5e12}, "L4": {"bf16": 121e12, "fp32": 30.3e12}}


@dataclass(frozen=True)
class ModelShape:
    params: int  # every parameter, as benchmarks/mfu.py counts N
    layers: int
    width: int
    lora: bool  # frozen base weights: no weight gradients


@dataclass(frozen=True)
class TrialCost:
    params: int
    seq_len: int  # padded training width: each batch is padded to its longest row
    steps: int
    batch: int
    train_tokens: int
    eval_tokens: int
    train_flops: float
    eval_flops: float

    @property
    def flops(self) -> float:
        return self.train_flops + self.eval_flops


def flops_per_token(shape: ModelShape, context: int, train: bool) -> float:
    """PaLM's count (benchmarks/mfu.py): 2 N per weight pass plus 4 L d T of attention per pass;
    training is three passes (forward, two backward), two for the weights of a LoRA model."""
    attention = 4 * shape.layers * shape.width * context
    if not train:
        return 2 * shape.params + attention
    return (2 if shape.lora else 3) * 2 * shape.params + 3 * attention


@lru_cache(maxsize=None)
def model_shape(model, tokenizer: str, max_len: int) -> ModelShape:
    """The trial's model built on the meta device (no memory, no init): exact N for any scale."""
    import torch

    with torch.device("meta"):
        if model.local_path:  # from_pretrained would load the weights: build from the config instead
            import transformers

            config = transformers.AutoConfig.from_pretrained(model.local_path, local_files_only=True)
            net = transformers.AutoModelForCausalLM.from_config(config)
        else:
            net = build_model(model, build_tokenizer(tokenizer), max_len)
    return ModelShape(sum(p.numel() for p in net.parameters()), net.config.num_hidden_layers,
                      net.config.hidden_size, model.lora is not None)


class Datasets:
    """Sequence lengths of the trials' datasets, each read once: a cell's length depends only on
    (task, format, tokenizer), which cells train only on (task, split, data size, seed)."""

    def __init__(self):
        self._lengths: dict = {}
        self._train: dict = {}
        self._evaluated: dict = {}

    def lengths(self, spec) -> np.ndarray:
        """1 + prompt + target (eos included) of every cell, in the grid's row order (for a length
        trial, of every problem of its own data)."""
        key = (spec.task, spec.format, spec.tokenizer, spec.lengths and spec.data_spec())
        if key not in self._lengths:
            import pyarrow.compute as pc

            table = load_dataset(spec.data_spec())
            parts = (pc.list_value_length(table[c]).to_numpy() for c in ("prompt_ids", "target_ids"))
            self._lengths[key] = 1 + sum(parts)
            if spec.lengths is not None:  # its split is in its table; it evaluates a sample of it

                split = table["split"].to_numpy(zero_copy_only=False)
                self._train[spec.data_spec()] = split == "train"
                self._evaluated[spec.data_spec()] = evaluation_mask(spec, split, table["n_digits"].to_numpy())
        return self._lengths[key]

    def evaluated(self, spec) -> np.ndarray:
        """The rows ``run_trial`` evaluates (every cell of a grid)."""
        lengths = self.lengths(spec)
        return self._evaluated[spec.data_spec()] if spec.lengths is not None else np.ones(len(lengths), bool)

    def train_mask(self, spec) -> np.ndarray:
        if spec.lengths is not None:
            self.lengths(spec)
            return self._train[spec.data_spec()]
        key = (spec.task, spec.split, spec.data_size, spec.seed)
        if key not in self._train:
            split = make_split(build_task(spec.task), spec.split, spec.data_size, spec.seed)
            self._train[key] = split.split == "train"
        return self._train[key]


def trial_cost(spec, data: Datasets) -> TrialCost:
    lengths = data.lengths(spec)
    train = lengths[data.train_mask(spec)]
    steps = spec.train.total_steps(len(train))
    batch = min(spec.train.batch_size, len(train))  # BatchOrder never asks for more rows than there are
    # a batch of 128 random rows is padded to ~its longest (measured within 1% of the training maximum)
    seq = int(train.max())
    longest = int(lengths.max())  # run_trial sizes the position table by the whole grid
    shape = model_shape(spec.model, spec.tokenizer, longest)
    # evaluate_cells: one teacher-forced pass over every cell, then `samples` generated completions of
    # each (prompt + target, KV-cached): about one forward token per token of every cell and pass
    eval_tokens = (int(spec.eval.greedy) + spec.eval.samples) * int(lengths[data.evaluated(spec)].sum())
    train_tokens = steps * batch * seq
    return TrialCost(shape.params, seq, steps, batch, train_tokens, eval_tokens,
                     train_tokens * flops_per_token(shape, seq, train=True),
                     eval_tokens * flops_per_token(shape, longest, train=False))


@dataclass(frozen=True)
class Throughput:
    cpu: dict  # measured scale -> (N, FLOP/s per core)
    gpu: str
    mfu: float
    mfu_measured: bool

    def flops_per_s(self, spec, res, params: int) -> float:
        """What one trial computes per second: its GPUs at the MFU of the peak for its precision, else
        its cores (as many as it reserves and has threads for, assumed linear) at the rate measured for
        the scale nearest in parameters."""
        if res.gpus_per_trial:
            return PEAK_FLOPS[self.gpu][spec.train.precision] * self.mfu * res.gpus_per_trial
        _, per_core = min(self.cpu.values(), key=lambda v: abs(math.log(v[0] / params)))
        return per_core * min(res.cpus_per_trial, res.num_workers * spec.threads)


def cpu_flops_per_core(data: Datasets) -> dict:
    """Measured scale -> (N, FLOP/s per core) of its benchmark trial."""
    out = {}
    for scale, tokens_per_s in CPU_TOKENS_PER_S.items():
        bench = from_dict(TrialSpec, {**CPU_BENCH_TRIAL, "model": {"scale": scale}})
        cost = trial_cost(bench, data)
        out[scale] = (cost.params, tokens_per_s * cost.train_flops / cost.train_tokens)
    return out


def trial_seconds(spec, data, rate, res, overhead: float):
    """(seconds, training seconds per step, at the GPU step floor, cost) of one trial: its training and
    evaluation FLOPs at ``rate``, a GPU step never faster than ``GPU_STEP_FLOOR_S``, plus ``overhead``."""
    cost = trial_cost(spec, data)
    flops_per_s = rate.flops_per_s(spec, res, cost.params)
    train_s = cost.train_flops / flops_per_s
    floored = bool(res.gpus_per_trial) and train_s < cost.steps * GPU_STEP_FLOOR_S
    if floored:
        train_s = cost.steps * GPU_STEP_FLOOR_S
    return train_s + cost.eval_flops / flops_per_s + overhead, train_s / cost.steps, floored, cost


def throughput(rate, gpu: str, overhead: float) -> dict:
    """What the plan assumed each trial runs at."""
    return {"cpu_flops_per_core": {k: v[1] for k, v in rate.cpu.items()}, "cpu_tokens_per_s": CPU_TOKENS_PER_S,
            "gpu": gpu, "gpu_peak_flops": PEAK_FLOPS[gpu], "mfu": rate.mfu, "mfu_measured": rate.mfu_measured,
            "gpu_step_floor_s": GPU_STEP_FLOOR_S, "overhead_s_per_trial": overhead}
