"""The two halves together: length generalization and Leave-Square-Out for the same configurations.
``python sweeps/halves.py --help`` lists the presets (caseray/presets/halves.py) and options."""

from caseray.cli.sweep import launch

if __name__ == "__main__":
    launch("halves")
