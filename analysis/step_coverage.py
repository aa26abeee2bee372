"""The step-coverage predictor on a sweep's step-format trials: per trial, the test cells it expects to
fail, how many failed, precision, recall, and the steps most often missing:

    python analysis/step_coverage.py SWEEP [--csv coverage.csv]

Same as ``caseray analyze step-coverage``.
"""

from caseray.cli.analysis import STEP_COVERAGE, launch

if __name__ == "__main__":
    launch(STEP_COVERAGE, __doc__)
