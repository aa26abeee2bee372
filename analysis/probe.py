"""Inside a finished grid trial's saved model -- the number embeddings' PCA and DFT (number tokenizer),
ridge probes of every layer's state at '=' for s = a + b, |d| and d = a - b, attention at '=' on a = b
against a != b cells of the same sums, the failed cells' error and margin against |d| and s:

    python analysis/probe.py caseray_out/trials/TRIAL

writes TRIAL/probe/ (probe.json, probe.md, PNGs; ``--out`` elsewhere); ``caseray report`` then shows its
summary. Same as ``caseray analyze probe``.
"""

from caseray.cli.analysis import PROBE, launch

if __name__ == "__main__":
    launch(PROBE, __doc__)
