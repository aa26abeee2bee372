"""The generalization radius: hole depth against the square's half-width h at several positions, with
paired random-split controls. ``python sweeps/hole_radius.py --help`` lists the presets
(caseray/presets/hole_radius.py) and options."""

from caseray.cli.sweep import launch

if __name__ == "__main__":
    launch("hole_radius")
