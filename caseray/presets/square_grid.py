"""Leave-Square-Out grid: task x square x tokenizer x split x model x data size x format x seed.

    ray job submit --working-dir . -- python sweeps/square_grid.py --preset paper
    python sweeps/square_grid.py --preset smoke            # embedded local Ray + sqlite MLflow
    python sweeps/square_grid.py --preset paper --dry-run  # trial count and resources, runs nothing
"""
from caseray.presets.hardware import on_gpus

SQUARE_7 = {"kind": "square", "center": [25, 25], "half_width": 7}
RANDOM_225 = {"kind": "random", "test_size": 225}  # a random split as large as the square

PRESETS = {
    "smoke": dict(  # CPU, minutes: the tokenization finding on two tasks, 2 seeds
        name="square-smoke",
        base={"task": {"high": 49}, "format": "direct", "model": {"scale": "tiny"},
              "train": {"steps": 1000, "lr": 3e-3, "batch_size": 128, "log_every": 250}, "save_model": False},
        axes={"task.name": ["addition", "base9_addition"], "tokenizer": ["number", "digit"],
              "split": [SQUARE_7, RANDOM_225], "seed": [0, 1]}),
    "paper": on_gpus(dict(  # a GPU cluster: the study's grid (5 tasks, h in 5..20, scales, data sizes, formats)
        name="square-paper",
        base={"model": {"scale": "small"}, "train": {"steps": 20000, "lr": 1e-3, "batch_size": 128,
                                                     "checkpoint_every": 2000, "log_every": 500},
              "eval": {"samples": 10, "temperature": 1.0}},
        axes={"task.name": ["addition", "mod_addition", "base9_addition", "linear", "chicken_rabbit"],
              "split.half_width": [5, 10, 15, 20], "format": ["direct", "scratchpad"],
              "tokenizer": ["number", "digit"], "model.scale": ["small", "base"],
              "data_size": [None, 3000], "seed": [0, 1, 2]}), scales=["small", "base"]),
}
