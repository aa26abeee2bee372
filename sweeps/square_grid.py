"""Leave-Square-Out grid: task x square x tokenizer x split x model x data size x format x seed.

    python sweeps/square_grid.py --preset smoke            # embedded local Ray + sqlite MLflow
    ray job submit --working-dir . -- python sweeps/square_grid.py --preset paper
    python sweeps/square_grid.py --help                    # presets, what they run, every option

The presets live in caseray/presets/square_grid.py.
"""

from caseray.cli.sweep import launch

if __name__ == "__main__":
    launch("square_grid")
