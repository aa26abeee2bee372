"""Layer 3, how a model learns: TrainSpec, Runtime (one process / DDP / DeepSpeed), the scale registry and
LoRA, batches, the engine, the training loop, checkpoints, teacher-forced and sampled evaluation."""
