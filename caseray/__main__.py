"""``python -m caseray``: the ``caseray`` command (for environments whose scripts are not on PATH)."""

import sys

from caseray.cli.main import main

sys.exit(main())
