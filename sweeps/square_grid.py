"""Leave-Square-Out grid: task x square x tokenizer x split x model x data size x format x seed.
``python sweeps/square_grid.py --help`` lists the presets (caseray/presets/square_grid.py) and options."""

from caseray.cli.sweep import launch

if __name__ == "__main__":
    launch("square_grid")
