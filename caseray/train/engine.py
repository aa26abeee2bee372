"""How one optimizer step is taken: in one process (``local``), data-parallel over torch.distributed
(``ddp``), or with DeepSpeed ZeRO (``deepspeed``). No Ray here: whoever starts the processes (Ray
Train, torchrun) sets up the process group; the training loop only sees an ``Engine``.

An engine saves its full training state (weights, optimizer, schedule, RNG, step) into a directory
and loads it back weights-only.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from caseray.train.batches import IGNORE, shifted_loss
from caseray.train.checkpoints import load_state, rng_state, save_state, set_rng_state
from caseray.train.number_embeddings import fixed_embedding, restore_number_rows
from caseray.train.runtime import Runtime

STATE_FILE = "state.pt"


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside torch.distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def all_mean(values: list[float], device: torch.device) -> list[float]:
    """Means over ranks (identity in one process)."""
    if world()[1] == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return (t / world()[1]).tolist()


def global_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """This rank's share of the mean loss over the *global* batch's target tokens, scaled so that
    averaging gradients over ranks (DDP, DeepSpeed) gives exactly the one-process gradient."""
    size = world()[1]
    if size == 1:
        return shifted_loss(logits, labels)
    tokens = (labels[:, 1:] != IGNORE).sum()
    total = tokens.clone()
    torch.distributed.all_reduce(total)
    return shifted_loss(logits, labels) * tokens * size / total


def positions_kw(position_ids) -> dict:
    """``position_ids`` for a forward call when the scheme gives them (else the model numbers tokens)."""
    return {} if position_ids is None else {"position_ids": position_ids}


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Engine:
    """One process, or DDP when ``ddp`` is true: AdamW + LambdaLR, optional gradient clipping."""

    def __init__(self, model, spec, schedule, device: torch.device, ddp: bool = False):
        self.module, self.spec, self.device = model.to(device), spec, device
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=spec.lr, weight_decay=spec.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.forward_module = model
        if ddp:
            ids = [device.index] if device.type == "cuda" else None
            self.forward_module = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def loss(self, ids, labels, mask, position_ids=None) -> torch.Tensor:
        with autocast(self.device, self.spec.precision):
            logits = self.forward_module(input_ids=ids, attention_mask=mask, **positions_kw(position_ids)).logits
        return global_loss(logits, labels)

    def step(self, loss: torch.Tensor) -> None:
        loss.backward()
        if self.spec.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.spec.grad_clip)
        self.optimizer.step()
        restore_number_rows(self.module)  # fixed number rows: AdamW's weight decay undone
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def full_model(self, rebuild):
        """The trained model, whole, for evaluation on rank 0 (``rebuild()`` makes an empty copy)."""
        return self.module

    def save(self, directory: Path, step: int) -> None:
        """Rank 0 writes the whole state (DDP replicas are identical)."""
        if world()[0] == 0:
            save_state(Path(directory) / STATE_FILE, {
                "model": self.module.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "rng": rng_state(), "step": step})

    def load(self, directory: Path) -> int:
        state = load_state(Path(directory) / STATE_FILE, self.device)
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        return int(state["step"])


class DeepSpeedEngine(Engine):
    """DeepSpeed ZeRO: every rank saves and loads its own shard (ZeRO-partitioned optimizer state)."""

    def __init__(self, model, spec, schedule, device: torch.device, runtime: Runtime):
        import deepspeed

        self.module, self.spec, self.device = model, spec, device
        self.params = [p for p in model.parameters() if p.requires_grad]
        config = deepspeed_config(spec, runtime, world()[1])
        optimizer = None
        if not runtime.offload:  # offload uses DeepSpeed's own CPU Adam from the config
            optimizer = torch.optim.AdamW(self.params, lr=spec.lr, weight_decay=spec.weight_decay)
        def scheduler(opt):
            return torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        self.ds, self.optimizer, _, self.scheduler = deepspeed.initialize(
            model=model, model_parameters=self.params, optimizer=optimizer, lr_scheduler=scheduler, config=config)
        self.ds.checkpoint_engine = _weights_only_engine(self.ds.checkpoint_engine)
        self.forward_module = self.ds

    def loss(self, ids, labels, mask, position_ids=None) -> torch.Tensor:
        logits = self.ds(input_ids=ids, attention_mask=mask, **positions_kw(position_ids)).logits  # bf16: DeepSpeed's
        return global_loss(logits, labels)

    def step(self, loss: torch.Tensor) -> None:
        self.ds.backward(loss)
        self.ds.step()  # clips, steps the optimizer and the schedule, zeroes gradients
        self._restore_number_rows()

    def _restore_number_rows(self) -> None:
        """Fixed number rows written back into the model's own weights (ZeRO-3: gathered, written on
        rank 0 and partitioned again); the optimizer's fp32 master copy of them may decay, unread."""
        import deepspeed

        emb = fixed_embedding(self.module)
        if emb is None:
            return
        stage3 = self.ds.zero_optimization_stage() == 3
        with deepspeed.zero.GatheredParameters([emb.weight], modifier_rank=0, enabled=stage3):
            restore_number_rows(self.module)

    def full_model(self, rebuild):
        if self.ds.zero_optimization_stage() < 3:
            return self.module
        state = self.ds._zero3_consolidated_16bit_state_dict()  # collective; the whole model on rank 0
        if state is None:
            return None
        model = rebuild().to(self.device)
        model.load_state_dict(state)
        return model

    def save(self, directory: Path, step: int) -> None:
        self.ds.save_checkpoint(str(directory), tag="engine", client_state={"step": step, "rng": rng_state()},
                                save_latest=False)

    def load(self, directory: Path) -> int:
        path, client = self.ds.load_checkpoint(str(directory), tag="engine")
        if path is None:
            raise FileNotFoundError(f"no DeepSpeed checkpoint in {directory}")
        set_rng_state(client["rng"])
        return int(client["step"])


def deepspeed_config(spec, runtime: Runtime, world_size: int) -> dict:
    per_rank = max(1, spec.batch_size // world_size)
    config = {
        "train_batch_size": per_rank * world_size, "train_micro_batch_size_per_gpu": per_rank,
        "gradient_accumulation_steps": 1, "gradient_clipping": spec.grad_clip,
        "zero_optimization": {"stage": runtime.zero_stage},
        "bf16": {"enabled": spec.precision == "bf16"},
        "steps_per_print": 10**9, "wall_clock_breakdown": False,
    }
    if runtime.offload:
        config["zero_optimization"]["offload_optimizer"] = {"device": "cpu"}
        config["optimizer"] = {"type": "AdamW", "params": {"lr": spec.lr, "weight_decay": spec.weight_decay}}
        config["zero_force_ds_cpu_optimizer"] = True
    return config


def _weights_only_engine(engine):
    """DeepSpeed's torch checkpoint engine loads with ``weights_only=False``; ours loads weights-only."""
    engine.load = lambda path, map_location=None: load_state(path, map_location)
    return engine


def build_engine(model, spec, schedule, device: torch.device, runtime: Runtime) -> Engine:
    if runtime.backend == "deepspeed":
        return DeepSpeedEngine(model, spec, schedule, device, runtime)
    if runtime.backend == "ddp" and world()[1] == 1:
        return Engine(model, spec, schedule, device)  # DDP over one process is the local engine
    return Engine(model, spec, schedule, device, ddp=runtime.backend == "ddp")
