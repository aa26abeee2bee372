"""A finished trial's saved model evaluated again with a test-time change -- ``--attention logn``, which
leaves training untouched, so the same weights are scored both ways (a paired comparison):

    python analysis/rescore.py caseray_out/trials/TRIAL --attention logn --out caseray_out/rescored

writes OUT/<the changed spec's name>/ (spec.json, cells.parquet, metrics.json, rescored_from.txt).
Same as ``caseray analyze rescore``.
"""

from caseray.cli.analysis import RESCORE, launch

if __name__ == "__main__":
    launch(RESCORE, __doc__)
