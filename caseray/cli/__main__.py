import sys

from caseray.cli.main import main

sys.exit(main())
