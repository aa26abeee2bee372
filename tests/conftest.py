import pytest
from hypothesis import settings

settings.register_profile("caseray", deadline=None, max_examples=60)
settings.load_profile("caseray")

TASK_NAMES = ["addition", "base9_addition", "mod_addition", "linear", "chicken_rabbit"]
FORMAT_NAMES = ["direct", "scratchpad", "rule_following"]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own dataset cache; nothing touches ~/.cache."""
    monkeypatch.setenv("CASERAY_CACHE", str(tmp_path / "cache"))
