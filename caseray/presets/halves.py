"""The two halves together: does a model that follows the addition rule to longer numbers leave no
hole? The rule-following configuration (reversed direct answer, RoPE, coupled ids at randomized
spacing) and the baselines, each trained twice -- on 1-5-digit additions and tested to 20 digits
(the rfft_length quick trials, found again when they share the results folder), and on the 0-49
addition grid with squares held out (the hole-radius positions) against paired random-split controls.
``caseray report`` puts both in one table ("Rule or case?").

    python sweeps/halves.py --preset quick     # 2 CPU cores: ~20 min for the squares, + rfft_length quick
"""
from caseray.presets.hole_radius import CENTRES_50, squares
from caseray.report.lengths import BASELINES, FIVE, LENGTH_BASE, RULE

GRID = {"task": [{"name": "addition", "high": 49}], "split": squares(CENTRES_50, [5]), "lengths": [None]}
GRID_BUDGET = {"train.steps": [1000]}  # the 0-49 grid's ~2,200 training cells: 58 epochs of 128


def on_grid(config: dict, **extra) -> dict:
    """A length configuration's grid trained on the 0-49 grid with the squares held out instead."""
    return {**config, **GRID, **extra}


PRESETS = {
    "quick": dict(  # 2 CPU cores: 3 seeds, h = 5 at the five hole-radius positions, with controls
        name="halves-quick", controls=True,
        base=LENGTH_BASE,
        axes=[{**RULE, "lengths": [FIVE]}, *({**b, "lengths": [FIVE]} for b in BASELINES),
              on_grid(RULE, **GRID_BUDGET), *(on_grid(b, **GRID_BUDGET) for b in BASELINES),
              # the case-based reference (number tokens: a hole at h = 5 in the radius sweep) and the same
              # tiny GPT-2 on digits, with the radius sweep's budget
              on_grid({"format": ["direct"], "model.scale": ["tiny"], "seed": [0, 1, 2]},
                      **{"tokenizer": ["number", "digit"], "train.steps": [1000], "train.lr": [3e-3],
                         "train.batch_size": [128]})]),
}
