"""LEMA, learning from mistakes: CoT alone against CoT + corrections, on a square and on lengths.

    python sweeps/lema.py --preset smoke            # embedded local Ray + sqlite MLflow
    ray job submit --working-dir . -- python sweeps/lema.py --preset paper
    python sweeps/lema.py --help                    # presets, what they run, every option

The presets live in caseray/presets/lema.py.
"""

from caseray.cli.sweep import launch

if __name__ == "__main__":
    launch("lema")
