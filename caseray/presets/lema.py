"""LEMA, learning from mistakes: CoT alone against CoT + corrections written by the exact corrector,
on a square hole and on length generalization; mistakes planted (synthetic) or the model's own; the
three ablations (no step index / no explanation / no corrected solution).

    python sweeps/lema.py --preset smoke      # CPU, ~2 min: CoT, LEMA synthetic, LEMA own (1 seed)
    python sweeps/lema.py --preset local      # CPU, ~60 min: the numbers in docs/FINDINGS.md, 3 seeds
    ray job submit --working-dir . -- python sweeps/lema.py --preset paper   # a GPU cluster

``lema: null`` is the CoT-alone trial; a LEMA trial with own mistakes trains (or finds finished, by
its hash) that very trial and samples its model. Read the comparison in the report's summary table
(one row per lema setting) or ``caseray report``.
"""

from caseray.presets.hardware import on_gpus


def arms(*settings: dict, ratio: float = 0.25) -> list:
    """The ``lema`` axis: CoT alone (null), then each setting at ``ratio`` corrections per CoT example."""
    return [None] + [{"correction_ratio": ratio, **s} for s in settings]


SYNTHETIC = {"mistake_source": "synthetic"}
OWN = {"mistake_source": "own", "samples": 4, "temperature": 1.0}
UNQUOTED = {**SYNTHETIC, "quote_step": False}  # the incorrect step cited by index only
SQUARE = {"task": {"name": "addition", "high": 19}, "format": "scratchpad", "tokenizer": "digit",
          "split": {"kind": "square", "half_width": 2}, "model": {"scale": "tiny"}, "save_model": True,
          "train": {"steps": 600, "batch_size": 32, "lr": 3e-3, "length_buckets": 2, "log_every": 100}}
LENGTHS = {"split": [{}], "lengths": [{"train_digits": [1, 2], "test_digits": [1, 4], "train_per_length": 2000,
                                        "test_per_length": 50}],
           "model.scale": ["llama-tiny"], "train.steps": [1000], "train.lr": [1e-3]}

PRESETS = {
    "smoke": dict(  # CPU, ~2 min on 2 cores (1 min 51 s measured)
        name="lema-smoke",
        base={**SQUARE, "task": {"name": "addition", "high": 14}, "train": {**SQUARE["train"], "steps": 250}},
        axes={"lema": arms(SYNTHETIC, OWN), "seed": [0]}),
    "local": dict(  # CPU, ~60 min on 2 cores: the numbers in docs/FINDINGS.md
        name="lema-local", base=SQUARE,
        axes=[{"lema": arms(SYNTHETIC, {**SYNTHETIC, "equal_size": True}, OWN,
                            *({**SYNTHETIC, "ablation": a}
                              for a in ("no_step_index", "no_explanation", "no_correction")),
                            UNQUOTED),
               "seed": [0, 1, 2]},
              {**LENGTHS, "lema": arms(SYNTHETIC, {**SYNTHETIC, "equal_size": True}, UNQUOTED), "seed": [0, 1, 2]}]),
    "paper": on_gpus(dict(  # a GPU cluster: GPT-2 124M from scratch on the full grid, LEMA's ~2,000 steps of batch 96
        name="lema-paper",
        base={**SQUARE, "task": {"name": "addition"}, "split": {"kind": "square", "half_width": 10},
              "model": {"scale": "gpt2-124m"},
              "train": {"steps": 2000, "batch_size": 96, "lr": 2e-4, "precision": "bf16", "length_buckets": 4,
                        "log_every": 200}, "eval": {"batch_size": 256}},
        axes=[{"lema": arms(SYNTHETIC, {**SYNTHETIC, "equal_size": True}, OWN, {**OWN, "mistake_source": "mixed"},
                            *({**SYNTHETIC, "ablation": a}
                              for a in ("no_step_index", "no_explanation", "no_correction"))),
               "format": ["scratchpad", "rule_following"], "seed": [0, 1, 2]}]), scales=["gpt2-124m"]),
}
