"""clusters/: the launcher configs validate against the schema inside the installed ray package (and
Ray's own default-filling), the KubeRay RayJob carries what it needs, no file holds a credential,
and Ray Train drivers stay on the nodes the configs mark for them."""

import copy
import json
import os
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

CLUSTERS = Path(__file__).resolve().parents[1] / "clusters"
LAUNCHER = ["aws-gpu.yaml", "gcp-gpu.yaml"]


def ray_schema() -> dict:
    import ray.autoscaler

    return json.loads((Path(os.path.dirname(ray.autoscaler.__file__)) / "ray-schema.json").read_text())


@pytest.mark.parametrize("name", LAUNCHER)
def test_launcher_configs_validate_against_rays_schema(name):
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((CLUSTERS / name).read_text())
    jsonschema.validate(config, ray_schema())
    validate_config(prepare_config(copy.deepcopy(config)))  # Ray's own path in `ray up`
    types = config["available_node_types"]
    assert set(types) == {"head", "cpu_worker", "gpu_worker"} and config["head_node_type"] == "head"
    assert types["head"]["resources"]["caseray_driver"] > 0  # trial drivers stay on the on-demand head
    assert all("caseray_driver" not in types[t]["resources"] for t in ("cpu_worker", "gpu_worker"))
    assert types["gpu_worker"]["resources"]["GPU"] == 8 and types["cpu_worker"]["min_workers"] == 0
    assert config["idle_timeout_minutes"] > 0
    assert any("setup.sh" in c for c in config["setup_commands"])
    assert all("--dashboard-host=127.0.0.1" in c for c in config["head_start_ray_commands"] if "--head" in c)
    broken = copy.deepcopy(config)
    broken["max_workers"] = "many"  # the schema check can fail
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, ray_schema())


def test_kuberay_rayjob_has_autoscaling_and_runs_the_paper_sweep():
    job = yaml.safe_load((CLUSTERS / "kuberay-rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert "sweeps/square_grid.py --preset paper" in spec["entrypoint"]
    cluster = spec["rayClusterSpec"]
    assert cluster["enableInTreeAutoscaling"] is True and cluster["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    assert cluster["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "127.0.0.1"
    assert "caseray_driver" in cluster["headGroupSpec"]["rayStartParams"]["resources"]
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    assert set(groups) == {"cpu-workers", "gpu-workers"}
    for g in groups.values():
        assert 0 == g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
        (container,) = g["template"]["spec"]["containers"]
        assert container["image"].startswith("YOUR-REGISTRY/caseray:2.60.0") and container["resources"]["limits"]
    assert groups["gpu-workers"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "8"


def test_no_credentials_in_cluster_files():
    pattern = re.compile(r"(aws_secret|aws_access_key|secret_access|private_key|password|token)\s*[:=]", re.I)
    for path in CLUSTERS.iterdir():
        assert not pattern.search(path.read_text()), path.name


def test_ray_train_drivers_go_where_the_cluster_marks():
    from caseray.sweep.ray_sweep import DRIVER_RESOURCES, driver_resources

    assert driver_resources({"CPU": 2.0}) == DRIVER_RESOURCES  # a laptop or CI: memory only
    marked = driver_resources({"CPU": 100.0, "caseray_driver": 64.0})
    assert marked == {**DRIVER_RESOURCES, "caseray_driver": 0.01}
