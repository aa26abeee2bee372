import os

import pytest
from hypothesis import settings

settings.register_profile("caseray", deadline=None, max_examples=60)
settings.load_profile("caseray")

TASK_NAMES = ["addition", "base9_addition", "mod_addition", "linear", "chicken_rabbit"]
FORMAT_NAMES = ["direct", "scratchpad", "rule_following", "rule_following_numbered"]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own dataset cache; nothing touches ~/.cache."""
    monkeypatch.setenv("CASERAY_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def ray_local():
    """An embedded local Ray (2 CPUs, 127.0.0.1) shared by one test module."""
    import ray

    from caseray.sweep.ray import init_ray

    init_ray(num_cpus=2)
    yield
    ray.shutdown()


# a test slower than this (set-up and call) must carry @pytest.mark.slow, or it fails: the fast loop
# (pytest -m "not slow") stays fast; CASERAY_UNMARKED_LIMIT_S changes it (tests/test_conftest.py)
UNMARKED_LIMIT_S = float(os.environ.get("CASERAY_UNMARKED_LIMIT_S", "20"))
_took: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if call.when in ("setup", "call"):
        _took[item.nodeid] = _took.get(item.nodeid, 0.0) + call.duration
    took = _took.get(item.nodeid, 0.0)
    if call.when == "call" and report.passed and took > UNMARKED_LIMIT_S and item.get_closest_marker("slow") is None:
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} took {took:.1f} s (set-up and call) without @pytest.mark.slow "
                           f"(limit {UNMARKED_LIMIT_S:g} s): mark it slow, or make it faster")
