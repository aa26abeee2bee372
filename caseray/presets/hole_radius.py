"""The generalization radius: how large must a held-out square be before the model fails its centre?

Each trial holds out squares of one half-width h at several positions at once (``kind: squares``:
on the diagonal a = b near a corner and in the middle, off it near the edges, one off-diagonal pair
holding out each other's mirror cells, one whose mirror stays in training), with its paired
random-split control of the same size (``controls: true``). The report (``caseray report`` and
``caseray predict-hole``) draws hole depth against h per task and tokenizer, estimates r*, the
smallest h whose centre fails, and checks a prediction of it at positions it was not measured on.

    python sweeps/hole_radius.py --preset quick     # 2 CPU cores, ~20 minutes (36 trials)
    ray job submit --working-dir . -- python sweeps/hole_radius.py --preset full
"""

from caseray.presets.hardware import on_gpus


def squares(centres, hs, max_test_fraction: float = 0.3) -> list[dict]:
    """One ``squares`` split per half-width h, each holding out a square of half-width h at every centre."""
    return [{"kind": "squares", "squares": [[a, b, h] for a, b in centres], "max_test_fraction": max_test_fraction}
            for h in hs]


# 0-49: diagonal corner and middle, an off-diagonal pair that are each other's mirror, one whose mirror
# (26, 40) stays in training; centres >= 14 apart (L-inf), so squares up to h = 6 never touch
CENTRES_50 = [(10, 10), (25, 25), (40, 10), (10, 40), (40, 26)]
# 0-99: the same roles on the paper's grid (two off-diagonal squares keep their mirrors), up to h = 12
CENTRES_100 = [(16, 16), (50, 50), (84, 16), (16, 84), (84, 50), (50, 16)]

_TINY = {"model": {"scale": "tiny"}, "format": "direct", "save_model": False,
         "train": {"steps": 1000, "lr": 3e-3, "batch_size": 128, "log_every": 250}}

PRESETS = {
    "quick": dict(  # 2 CPU cores, ~20 minutes: addition 0-49, number tokens at h in {1, 2, 3, 5}, digit
        # tokens (which left no hole at any h when all four were measured) at h in {2, 5}; 3 seeds
        name="radius-quick", controls=True,
        base={"task": {"name": "addition", "high": 49}, **_TINY},
        axes=[{"split": squares(CENTRES_50, [1, 2, 3, 5]), "tokenizer": ["number"], "seed": [0, 1, 2]},
              {"split": squares(CENTRES_50, [2, 5]), "tokenizer": ["digit"], "seed": [0, 1, 2]}]),
    "local": dict(  # a workstation (~2 h on 2 cores): two tasks, h = 1..6, a smaller data size
        name="radius-local", controls=True,
        base={"task": {"high": 49}, **_TINY},
        axes={"task.name": ["addition", "base9_addition"], "split": squares(CENTRES_50, [1, 2, 3, 4, 5, 6], 0.4),
              "tokenizer": ["number", "digit"], "data_size": [None, 1000], "seed": [0, 1, 2]}),
    "full": on_gpus(dict(  # a GPU cluster: the paper's 0-99 grids, three tasks, h = 1..12, two scales, two data sizes
        name="radius-full", controls=True,
        base={"format": "direct", "train": {"steps": 20000, "lr": 1e-3, "batch_size": 128,
                                            "checkpoint_every": 2000, "log_every": 500}},
        axes={"task.name": ["addition", "base9_addition", "linear"],
              "split": squares(CENTRES_100, [1, 2, 3, 4, 5, 6, 8, 10, 12], 0.4),
              "tokenizer": ["number", "digit"], "model.scale": ["small", "base"], "data_size": [None, 3000],
              "seed": [0, 1, 2]}), scales=["small", "base"]),
}
