"""Accuracy curves of a sweep, one line per group of --by axes (mean ± std over the rest, e.g. seeds):

    python analysis/curves.py square-smoke --by tokenizer,split --out-dir curves/

writes signature.png, square_size.png and length.png, each where the sweep has what it needs.
Same as ``caseray analyze curves``.
"""

from caseray.cli.analysis import CURVES, launch

if __name__ == "__main__":
    launch(CURVES, __doc__)
