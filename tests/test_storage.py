"""Results storage: a folder or an object store (a local S3 from moto, reached as MinIO would be)."""

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.sweep.results import from_local, write_manifest
from caseray.sweep.spec import SweepSpec
from caseray.sweep.storage import DONE, Store, is_network_fs, mount_type, pull_trial, push_trial, trials_folder
from helpers import s3_server
from synthetic import record


@pytest.fixture
def s3(monkeypatch, tmp_path):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # this test's own staging folders
    (tmp_path / "tmp").mkdir()
    with s3_server() as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield "s3://sweeps/team/run1"


def write_trial(folder, rec) -> None:
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps(rec.spec.to_dict()))
    pq.write_table(rec.cells, folder / "cells.parquet")
    (folder / DONE).write_text(json.dumps(rec.metrics))
    (folder / "model").mkdir()
    (folder / "model" / "weights.bin").write_bytes(b"\0" * 64)


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_a_store_reads_back_what_it_wrote(where, tmp_path, request):
    root = str(tmp_path / "sweeps") if where == "folder" else request.getfixturevalue("s3")
    store = Store(root)
    assert not store.exists("a", "x.txt") and store.folders() == []
    store.write_text("hello", "a", "x.txt")
    assert store.read_text("a", "x.txt") == "hello" and store.folders() == ["a"]
    store.probe()
    assert store.folders() == ["a"] and store.exists("a", "x.txt")  # the probe leaves nothing behind


def test_an_upload_writes_the_finished_marker_last(s3, tmp_path, monkeypatch):
    import pyarrow.fs as pafs

    rec = record()
    write_trial(tmp_path / "t", rec)
    order = []
    copy = pafs.copy_files
    monkeypatch.setattr(pafs, "copy_files",
                        lambda src, dst, **kw: (order.append(dst.rsplit("/", 1)[1]), copy(src, dst, **kw)))
    Store(s3).upload(tmp_path / "t", "trials", "t")
    assert order[-1] == DONE and set(order) == {"spec.json", "cells.parquet", DONE, "weights.bin"}


def test_a_sweep_in_an_object_store_is_read_back_and_reported(s3, tmp_path):
    from caseray.report.sweep_report import report_sweep

    records = [record(seed=s, hole=1) for s in (0, 1)]
    for rec in records:  # as trials on some node finish: staged locally, then pushed
        write_trial(Path(trials_folder(s3)) / rec.name, rec)
        push_trial(s3, rec.name)
    write_manifest(s3, "synth-12345678", {"name": "synth"}, [r.name for r in records] + ["never-finished"])
    sweep_id, back = from_local(s3, "synth")
    assert sweep_id == "synth-12345678" and [r.name for r in back] == sorted(r.name for r in records)
    assert all(b.cells.equals(r.cells) and b.metrics == r.metrics
               for b, r in zip(back, sorted(records, key=lambda r: r.name)))
    path, _ = report_sweep("synth", s3, log=False)
    store = Store(s3)
    assert path.exists() and store.exists(sweep_id, "report", "report.md")
    assert store.exists(sweep_id, "report", "summary.csv")


def test_pulling_a_trial_brings_its_results_but_not_its_weights(s3, tmp_path):
    import shutil

    rec = record()
    local = Path(trials_folder(s3)) / rec.name
    write_trial(local, rec)
    push_trial(s3, rec.name)
    shutil.rmtree(local)  # another node: nothing staged here
    pull_trial(s3, rec.name)
    assert sorted(p.name for p in local.iterdir()) == ["cells.parquet", "metrics.json", "spec.json"]
    pull_trial(s3, "not-finished")
    assert not (local.parent / "not-finished").exists()


def test_a_missing_bucket_is_refused_by_the_probe(s3):
    with pytest.raises(SpecError, match=r"storage_path: s3://no-such-bucket/x is not writable from here"):
        Store("s3://no-such-bucket/x").probe()


@pytest.mark.parametrize("bad", ["ftp://host/x", "", "hdfs://nn/x"])
def test_a_storage_path_must_be_a_folder_or_an_object_store(bad):
    with pytest.raises(SpecError, match=r"storage_path: .* not a results location.*allowed: .*s3://bucket/prefix"):
        from_dict(SweepSpec, {"storage_path": bad})


def test_object_store_uris_are_accepted():
    for uri in ("s3://b/p", "gs://b/p", "gcs://b/p"):
        assert from_dict(SweepSpec, {"storage_path": uri}).storage_path == uri


def test_the_mount_holding_a_path_decides_whether_it_is_shared(tmp_path):
    mounts = tmp_path / "mounts"
    mounts.write_text("overlay / overlay rw 0 0\n"
                      "fs-1.efs.amazonaws.com:/ /mnt/efs nfs4 rw 0 0\n"
                      "bucket /mnt/gcs fuse.gcsfuse rw 0 0\n"
                      "/dev/sda1 /mnt/efs/local ext4 rw 0 0\n")
    paths = ("/mnt/efs/sweeps", "/mnt/efsx", "/mnt/gcs/a", "/mnt/efs/local/a", "/home")
    kinds = {p: mount_type(p, str(mounts)) for p in paths}
    assert kinds == {"/mnt/efs/sweeps": "nfs4", "/mnt/efsx": "overlay", "/mnt/gcs/a": "fuse.gcsfuse",
                     "/mnt/efs/local/a": "ext4", "/home": "overlay"}
    assert [is_network_fs(k) for k in kinds.values()] == [True, False, True, False, False]
