"""Length generalization: train on short additions, test on longer ones -- the rule-based half of the
study beside direct, scratchpad and rule-following (RFFT) answers, per answer layout
(``format_options``: reversed answers, index hints) and positions (``model.positions``: learned,
rope, nope, coupled ids with random offsets, coupled ids at randomized spacing).

    python sweeps/rfft_length.py --preset quick          # CPU, ~15 min: train 1-5 digits, test 1-20, 3 seeds
    python sweeps/rfft_length.py --preset local          # CPU, ~70 min: every option and RFFT, 3 seeds
    python sweeps/rfft_length.py --preset smoke          # CPU, ~7 min: train 1-2 digits, test 1-4
    python sweeps/rfft_length.py --preset far            # CPU, ~35 min: train 1-5 digits, test 1-100 (20x)
    ray job submit --working-dir . -- python sweeps/rfft_length.py --preset paper   # a GPU cluster
    python sweeps/rfft_length.py --preset paper --axis model.scale=[path:/ckpt/llama-2-7b] \\
        --set tokenizer=hf:/ckpt/llama-2-7b --set model.lora.rank=8 --axis format=[rule_following]

Each configuration gets its own training budget (the grids are joined): rule-following traces are
~100x longer than direct answers, so they train fewer, smaller, length-bucketed batches.
"""
from caseray.presets.hardware import on_gpus
from caseray.report.lengths import BASELINES, FIVE, LENGTH_BASE, REVERSED, RULE, RULE_BUDGET, length_config


def grids(formats: dict, axes: dict) -> list[dict]:
    """One grid per format, each with its own ``train`` settings, sharing the other axes."""
    return [{"format": [name], **{f"train.{k}": [v] for k, v in train.items()}, **axes}
            for name, train in formats.items()]


SMALL = LENGTH_BASE
SHORT = {"train_digits": [1, 2], "test_digits": [1, 4], "train_per_length": 2000}
BUCKETS = 4  # rule-following batches by length (its traces grow ~500 tokens a digit)

# the configuration that holds at 10x (docs/FINDINGS.md, "The two digits of a place"): each place's carry
# written, coupled ids at randomized spacing over 256, ALiBi over them, the ends marked; the second
# operand's digits in tokens of their own (digit_roles) against digit; tested to 100 digits
FAR = {"task": {"name": "addition"}, "format": "direct", "format_options": {"reverse": True, "carries": True},
       "model": {"scale": "llama-tiny", "coupled_ids": 256, "positions": "coupled_random", "attention": "id_alibi",
                 "mark_ends": True},
       "save_model": True, "train": {"steps": 2000, "batch_size": 128, "lr": 1e-3, "log_every": 100},
       "lengths": {**FIVE, "test_digits": [1, 100], "test_per_length": 10}}

PRESETS = {
    "quick": dict(  # CPU, ~15 min on 2 cores (14.5 measured): the rule-following configuration against its control (the
        # same model, answers, data and budget, coupled ids with random offsets only); train 1-5 digits,
        # test 1-20; 3 seeds
        name="rfft-quick",
        base={**SMALL, "lengths": FIVE},
        axes=[RULE] + BASELINES),
    "local": dict(  # CPU, ~60 min on 2 cores: quick's two, and each ingredient on its own -- reversed
        # answers with RoPE's own positions, index hints, scratchpad -- and rule-following traces
        name="rfft-local",
        base={**SMALL, "lengths": FIVE},
        # (rule-following traces grow ~450 tokens a digit: tested on 1-8 digits, 10 per length)
        axes=[{**length_config("rule_following_numbered", "llama-tiny", {"steps": 300, "batch_size": 8,
                                                                         "length_buckets": BUCKETS}),
               "lengths.test_digits": [[1, 8]], "lengths.test_per_length": [10]},
              RULE, *BASELINES,
              length_config("direct", "llama-tiny", RULE_BUDGET, REVERSED),
              length_config("direct", "llama-tiny", RULE_BUDGET, {"reverse": True, "index_hints": True}),
              # the rule-following configuration with each place's carry written before its digit
              length_config("direct", "llama-tiny", RULE_BUDGET, {"reverse": True, "carries": True},
                            "coupled_random"),
              length_config("scratchpad", "llama-tiny", {"steps": 1500, "batch_size": 32})]),
    "far": dict(  # CPU, ~35 min on 2 cores (6 trials of ~11.5 core-minutes measured; caseray plan says 19: it
        # prices a Llama at a GPT-2's measured rate); 3 seeds of each tokenizer, the trials of
        # docs/sweeps/digit_roles.yaml and mark_ends.yaml (same names)
        name="rfft-far", base=FAR, axes={"tokenizer": ["digit_roles", "digit"], "seed": [0, 1, 2]}),
    "smoke": dict(  # CPU, ~7 min on 2 cores: the curves appear; 1 seed, tiny models
        name="rfft-smoke",
        base={**SMALL, "lengths": {**SHORT, "test_per_length": 30}},
        axes=grids({"rule_following_numbered": {"steps": 300, "batch_size": 8, "length_buckets": BUCKETS}},
                   {"model.scale": ["llama-tiny"], "seed": [0]})
        + grids({"direct": {"steps": 1500, "batch_size": 64}, "scratchpad": {"steps": 1500, "batch_size": 32}},
                {"model.scale": ["tiny", "llama-tiny"], "seed": [0]})),
    "short": dict(  # CPU, ~30 min on 2 cores: train 1-2 digits, test 1-4 (the first measurement), 3 seeds
        name="rfft-short",
        base={**SMALL, "lengths": {**SHORT, "test_per_length": 50}},
        # rule-following costs ~20x a scratchpad step on CPU: the numbered form, RoPE only (listed
        # first: the longest trials start first)
        axes=grids({"rule_following_numbered": {"steps": 500, "batch_size": 8, "length_buckets": BUCKETS}},
                   {"model.scale": ["llama-tiny"], "seed": [0, 1, 2]})
        + grids({"direct": {"steps": 1500, "batch_size": 64}, "scratchpad": {"steps": 1500, "batch_size": 32}},
                {"model.scale": ["tiny", "llama-tiny"], "seed": [0, 1, 2]})),
    "paper": on_gpus(dict(  # a GPU cluster: train 1-5 digits, test 1-15, larger models and data
        name="rfft-paper",
        base={**SMALL, "lengths": {"train_digits": [1, 5], "test_digits": [1, 15],
                                                     "train_per_length": 20000, "test_per_length": 100},
              "train": {**SMALL["train"], "precision": "bf16", "checkpoint_every": 1000, "log_every": 200,
                        "length_buckets": BUCKETS},
              "eval": {"batch_size": 64}},
        axes=grids({"direct": {"steps": 20000, "batch_size": 128},
                    "scratchpad": {"steps": 20000, "batch_size": 64},
                    "rule_following": {"steps": 10000, "batch_size": 16}},
                   {"model.scale": ["gpt2-124m", "llama-small"], "lengths.train_per_length": [5000, 20000],
                    "seed": [0, 1, 2]})), scales=["gpt2-124m", "llama-small"]),
}
