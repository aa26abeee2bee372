"""Length generalization: train on short additions, test on longer ones, per answer format
(direct / scratchpad / rule-following, RFFT) and architecture (GPT-2's learned absolute positions
vs Llama's RoPE).

    python sweeps/rfft_length.py --preset smoke          # CPU, ~7 min: train 1-2 digits, test 1-4
    python sweeps/rfft_length.py --preset local          # CPU, ~30 min: the numbers in docs/FINDINGS.md, 3 seeds
    ray job submit --working-dir . -- python sweeps/rfft_length.py --preset paper   # a GPU cluster
    python sweeps/rfft_length.py --preset paper --axis model.scale=[path:/ckpt/llama-2-7b] \\
        --set tokenizer=hf:/ckpt/llama-2-7b --set model.lora.rank=8 --axis format=[rule_following]

Each format gets its own training budget (the grids are joined): rule-following traces are ~100x
longer than direct answers, so they train fewer, smaller, length-bucketed batches.
"""
def grids(formats: dict, axes: dict) -> list[dict]:
    """One grid per format, each with its own ``train`` settings, sharing the other axes."""
    return [{"format": [name], **{f"train.{k}": [v] for k, v in train.items()}, **axes}
            for name, train in formats.items()]


SMALL = {"task": {"name": "addition"}, "tokenizer": "digit", "save_model": False,
         "train": {"lr": 1e-3, "log_every": 100}}
SHORT = {"train_digits": [1, 2], "test_digits": [1, 4], "train_per_length": 2000}
BUCKETS = 4  # rule-following batches by length (its traces grow ~500 tokens a digit)

PRESETS = {
    "smoke": dict(  # CPU, ~7 min on 2 cores: the curves appear; 1 seed, tiny models
        name="rfft-smoke",
        base={**SMALL, "lengths": {**SHORT, "test_per_length": 30}},
        axes=grids({"rule_following_numbered": {"steps": 300, "batch_size": 8, "length_buckets": BUCKETS}},
                   {"model.scale": ["llama-tiny"], "seed": [0]})
        + grids({"direct": {"steps": 1500, "batch_size": 64}, "scratchpad": {"steps": 1500, "batch_size": 32}},
                {"model.scale": ["tiny", "llama-tiny"], "seed": [0]})),
    "local": dict(  # CPU, ~30 min on 2 cores: the numbers in docs/FINDINGS.md, 3 seeds
        name="rfft-local",
        base={**SMALL, "lengths": {**SHORT, "test_per_length": 50}},
        # rule-following costs ~20x a scratchpad step on CPU: the numbered form, RoPE only (listed
        # first: the longest trials start first)
        axes=grids({"rule_following_numbered": {"steps": 500, "batch_size": 8, "length_buckets": BUCKETS}},
                   {"model.scale": ["llama-tiny"], "seed": [0, 1, 2]})
        + grids({"direct": {"steps": 1500, "batch_size": 64}, "scratchpad": {"steps": 1500, "batch_size": 32}},
                {"model.scale": ["tiny", "llama-tiny"], "seed": [0, 1, 2]})),
    "paper": dict(  # a GPU cluster: train 1-5 digits, test 1-15, larger models and data
        name="rfft-paper",
        base={**SMALL, "device": "cuda", "lengths": {"train_digits": [1, 5], "test_digits": [1, 15],
                                                     "train_per_length": 20000, "test_per_length": 100},
              "train": {**SMALL["train"], "precision": "bf16", "checkpoint_every": 1000, "log_every": 200,
                        "length_buckets": BUCKETS},
              "eval": {"batch_size": 64}},
        axes=grids({"direct": {"steps": 20000, "batch_size": 128},
                    "scratchpad": {"steps": 20000, "batch_size": 64},
                    "rule_following": {"steps": 10000, "batch_size": 16}},
                   {"model.scale": ["gpt2-124m", "llama-small"], "lengths.train_per_length": [5000, 20000],
                    "seed": [0, 1, 2]}),
        resources={"gpus_per_trial": 1, "cpus_per_trial": 4}),
}
