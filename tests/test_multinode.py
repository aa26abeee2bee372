"""A sweep on a two-node Ray cluster (Ray's multi-node test cluster on this machine; its head carries
``caseray_driver`` like the autoscaling configs) refuses a file-based MLflow store and a results folder
on a local disk before writing anything, and probes that every node sees a shared folder."""

import pytest

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.sweep.spec import SweepSpec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_nodes():
    import ray
    from ray.cluster_utils import Cluster

    # (Ray's multi-node test cluster uses the machine's address; 127.0.0.1 stalls its second node)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                                       "resources": {"caseray_driver": 1}})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_file_store_on_a_multi_node_cluster_is_refused_before_anything_is_written(two_nodes, tmp_path):
    from caseray.sweep.ray import run_sweep

    sweep = from_dict(SweepSpec, {"name": "multi", "storage_path": str(tmp_path / "out"),
                                  "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db",
                                  "base": {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}}})
    with pytest.raises(SpecError, match=r"tracking_uri: .* is a file on one machine, but the cluster has 2 node"):
        run_sweep(sweep)
    assert not any(tmp_path.iterdir())  # no store, no results folder, no manifest


def test_a_results_folder_on_a_local_disk_is_refused(two_nodes, tmp_path):
    from caseray.sweep.ray import check_cluster_storage

    with pytest.raises(SpecError, match=r"storage_path: .* is on a local disk .* the cluster has 2 node\(s\) and "
                                        r"scales with the queue.*allowed: s3://bucket/prefix, gs://bucket/prefix"):
        check_cluster_storage(str(tmp_path / "out"), "http://127.0.0.1:5000")
    assert not any(tmp_path.iterdir())


def test_every_node_is_probed_for_a_shared_folder(two_nodes, tmp_path, monkeypatch):
    from caseray.sweep.ray import check_cluster_storage, preflight

    monkeypatch.setattr(preflight, "mount_type", lambda path: "nfs4")  # as if tmp_path were an NFS mount
    check_cluster_storage(str(tmp_path / "shared"), "http://127.0.0.1:5000")  # both nodes see it here
    assert [p.name for p in (tmp_path / "shared").iterdir()] == []  # the probe file is gone again
