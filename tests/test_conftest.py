"""The fast loop's guard: an unmarked test over the limit fails, a marked one does not."""

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def test_an_unmarked_slow_test_fails_and_a_marked_one_passes(tmp_path):
    (tmp_path / "conftest.py").write_text((TESTS / "conftest.py").read_text())
    (tmp_path / "test_timed.py").write_text(
        "import time\nimport pytest\n\n"
        "def test_quick():\n    pass\n\n"
        "def test_unmarked_slow():\n    time.sleep(0.6)\n\n"
        "@pytest.mark.slow\ndef test_marked_slow():\n    time.sleep(0.6)\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "CASERAY_UNMARKED_LIMIT_S": "0.5"})
    assert "1 failed, 2 passed" in done.stdout, done.stdout
    assert "test_unmarked_slow took" in done.stdout and "without @pytest.mark.slow" in done.stdout
