"""The hole atlas: hole depth of one square size at every position of a lattice covering the grid,
with paired random-split controls; ``fold``: the fold explanation's decisive hold-outs.
``python sweeps/hole_atlas.py --help`` lists the presets (caseray/presets/hole_atlas.py) and options."""

from caseray.cli.sweep import launch

if __name__ == "__main__":
    launch("hole_atlas")
