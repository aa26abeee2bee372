"""Length generalization: train on short additions, test longer ones, per format and positions.
``python sweeps/rfft_length.py --help`` lists the presets (caseray/presets/rfft_length.py) and options."""

from caseray.cli.sweep import launch

if __name__ == "__main__":
    launch("rfft_length")
