"""LEMA, learning from mistakes: CoT alone against CoT + corrections, on a square and on lengths.
``python sweeps/lema.py --help`` lists the presets (caseray/presets/lema.py) and options."""

from caseray.cli.sweep import launch

if __name__ == "__main__":
    launch("lema")
