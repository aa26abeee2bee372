"""Length generalization: train on short additions, test on longer ones, per format and positions.

    python sweeps/rfft_length.py --preset smoke            # embedded local Ray + sqlite MLflow
    ray job submit --working-dir . -- python sweeps/rfft_length.py --preset paper
    python sweeps/rfft_length.py --help                    # presets, what they run, every option

The presets live in caseray/presets/rfft_length.py.
"""

from caseray.cli.sweep import launch

if __name__ == "__main__":
    launch("rfft_length")
