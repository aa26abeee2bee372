"""A saved coupled-id model (direct, reversed answers, digit tokens) scored on fresh mixed-length
additions whose places get other id maps than its test gave them (docs/FINDINGS.md, "Past the id range"):

    python analysis/id_spacing_probe.py caseray_out/trials/TRIAL --maps even,random,gap1,gap2 --digits 5,10,20

Maps: even (the trial's own test ids), random (a sorted random subset of the range, as coupled_random
trains), gapG (place * G), randR (a random subset of 1..R). Same as ``caseray analyze id-spacing``.
"""

from caseray.cli.analysis import ID_SPACING, launch

if __name__ == "__main__":
    launch(ID_SPACING, __doc__)
