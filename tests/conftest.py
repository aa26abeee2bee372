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
