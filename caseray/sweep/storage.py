"""Where a sweep's results live: a folder (local, or a network filesystem every node mounts) or an
object store prefix (``s3://bucket/prefix``, ``gs://bucket/prefix``), both through ``pyarrow.fs``.

Trials always write into a local folder. With an object store, that folder is a staging copy on
the trial's node: a finished trial is uploaded (``metrics.json``, which marks it finished, last)
and downloaded again wherever it is read. Object-store credentials and endpoints come from the
environment as for any pyarrow/boto client (``AWS_*``, ``AWS_ENDPOINT_URL`` for MinIO and the like,
``GOOGLE_APPLICATION_CREDENTIALS``); none are ever written to a file, so a URI that carries them
(``s3://KEY:SECRET@bucket``) is refused: Ray Tune keeps its storage path (and filesystem) in its
experiment files. The staging folders are private to their user (0700, checked, never a symlink).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import uuid
from pathlib import Path

from caseray.core.atomic import write_text_atomic
from caseray.core.errors import SpecError
from caseray.core.local_folders import FOLDERS_FILE
from caseray.core.redact import has_credentials, redact
from caseray.trial.result import CURVE, DONE  # a trial folder is finished once DONE is there

REMOTE_SCHEMES = ("s3://", "gs://", "gcs://")
# what reading a finished trial needs (FOLDERS_FILE: only a trial that names local folders writes it;
# CURVE: only one with a held-out curve)
RESULT_FILES = ("spec.json", FOLDERS_FILE, "cells.parquet", "holemap.png", CURVE, DONE)
# filesystems every node of a cluster can mount (so a plain path may be shared)
NETWORK_FS = ("nfs", "nfs4", "cifs", "smb3", "lustre", "ceph", "glusterfs", "beegfs", "gpfs", "efs", "9p")


def is_remote(root: str | Path) -> bool:
    return str(root).startswith(REMOTE_SCHEMES)


def check_storage_path(value) -> None:
    """A folder path or an object-store URI without credentials; anything else names the allowed forms."""
    if not isinstance(value, str) or not value or ("://" in value and not is_remote(value)):
        raise SpecError("storage_path", f"{redact(value)!r} is not a results location",
                        ["a folder path (local, or NFS on a cluster)", *(f"{s}bucket/prefix" for s in REMOTE_SCHEMES)])
    if has_credentials(value):
        raise SpecError("storage_path", f"{redact(value)} carries credentials, which would be stored with the "
                        "sweep's files", ["the URI without them, the keys in the environment (AWS_ACCESS_KEY_ID, "
                                          "AWS_SECRET_ACCESS_KEY; GOOGLE_APPLICATION_CREDENTIALS)"])


class Store:
    """A results root with paths relative to it (``store.read_text("trials", name, "spec.json")``)."""

    def __init__(self, root: str | Path):
        import pyarrow.fs as pafs

        check_storage_path(str(root))
        self.root = str(root)
        self.remote = is_remote(root)
        if self.remote:
            try:
                self.fs, self.base = pafs.FileSystem.from_uri(self.root)
            except (OSError, ValueError) as err:
                raise SpecError("storage_path", f"{self.root}: {err}") from None
        else:
            self.fs, self.base = pafs.LocalFileSystem(), str(Path(self.root).resolve())

    def path(self, *parts: str) -> str:
        return "/".join([self.base.rstrip("/"), *parts])

    def uri(self, *parts: str) -> str:
        """What to show a user: the URI (remote) or the absolute path (local)."""
        return "/".join([self.root.rstrip("/"), *parts]) if self.remote else self.path(*parts)

    def exists(self, *parts: str) -> bool:
        import pyarrow.fs as pafs

        return self.fs.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound

    def read_text(self, *parts: str) -> str:
        with self.fs.open_input_stream(self.path(*parts)) as f:
            return f.read().decode()

    def read_table(self, *parts: str):
        import pyarrow.parquet as pq

        return pq.read_table(self.path(*parts), filesystem=self.fs)

    def write_text(self, text: str, *parts: str) -> None:
        """Atomic: a reader sees the old file or the new one (rename locally; one PUT on an object store)."""
        if not self.remote:
            return write_text_atomic(self.path(*parts), text)
        with self.fs.open_output_stream(self.path(*parts)) as f:
            f.write(text.encode())

    def delete(self, *parts: str) -> None:
        self.fs.delete_file(self.path(*parts))

    def folders(self, *parts: str) -> list[str]:
        """Names of the folders directly under ``parts`` (none if it does not exist)."""
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.path(*parts), allow_not_found=True))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)

    def files(self, *parts: str) -> list[str]:
        """The files right under ``parts`` (none if it is absent)."""
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.path(*parts), allow_not_found=True))
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.File)

    def upload(self, local: str | Path, *parts: str) -> None:
        """Copy a local folder to ``parts``; ``DONE`` (if there) goes last, so a reader never sees a
        finished trial with missing files."""
        import pyarrow.fs as pafs

        local = Path(local)
        files = sorted((p for p in local.rglob("*") if p.is_file()), key=lambda p: p.name == DONE)
        for file in files:
            pafs.copy_files(str(file), self.path(*parts, *file.relative_to(local).parts),
                            source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self.fs)

    def download(self, local: str | Path, *parts: str) -> None:
        """Copy one file to the local path ``local``."""
        import pyarrow.fs as pafs

        Path(local).parent.mkdir(parents=True, exist_ok=True)
        pafs.copy_files(self.path(*parts), str(local), source_filesystem=self.fs,
                        destination_filesystem=pafs.LocalFileSystem())

    def probe(self) -> None:
        """Write, read and delete one small object: bad credentials or a missing bucket fail here,
        before a sweep starts, not in its first trial."""
        name = f".caseray-probe-{uuid.uuid4().hex}"
        try:
            self.write_text("ok", name)
            ok = self.read_text(name) == "ok"
            self.delete(name)
        except OSError as err:
            raise SpecError("storage_path", f"{self.root} is not writable from here: {err}") from None
        if not ok:
            raise SpecError("storage_path", f"{self.root} returned something else than was written")


def staging_root(root: str) -> Path:
    """This node's local copy of a remote store's trials (stable: what was staged here is found again),
    in this user's private folder under the temp dir."""
    key = hashlib.sha256(root.encode()).hexdigest()[:12]
    return private_folder(Path(tempfile.gettempdir()) / f"caseray-staging-{os.getuid()}") / key


def private_folder(path: Path) -> Path:
    """``path`` made 0700, or found as this user's own folder that no one else can write to: in a
    shared temp dir anyone may plant a folder or a symlink at a predictable name first."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    problem = _not_private(os.lstat(path))  # the name itself, never a symlink's target
    if problem:
        raise SpecError("staging folder", f"{path} {problem}: trials will not stage files there",
                        ["remove it", "TMPDIR=<a private folder>"])
    return path


def _not_private(info: os.stat_result) -> str | None:
    if stat.S_ISLNK(info.st_mode):
        return "is a symlink"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    if info.st_uid != os.getuid():
        return f"belongs to uid {info.st_uid}"
    if info.st_mode & 0o022:
        return f"is writable by others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def local_folder(root: str | Path, *parts: str) -> Path:
    """Where this machine writes files bound for ``root/parts``: that folder itself, or for an object
    store its staging copy (then ``publish``)."""
    return (staging_root(str(root)) if is_remote(root) else Path(root)).joinpath(*parts)


def publish(root: str | Path, local: str | Path, *parts: str) -> None:
    """Upload a folder written under ``local_folder(root, *parts)`` (a no-op for folders)."""
    if is_remote(root):
        Store(root).upload(local, *parts)


def trials_folder(root: str) -> str:
    """Where this process's trials write: the results folder's ``trials/`` or the staging copy."""
    return str(local_folder(root, "trials"))


def pull_trial(root: str, name: str, weights: bool = False) -> None:
    """A remote store's finished trial (its ``RESULT_FILES``; with ``weights``, its saved model and
    tokenizer first), copied into this node's staging folder; a no-op for folders and for trials not
    finished there."""
    if not is_remote(root):
        return
    store = Store(root)
    local = Path(trials_folder(root)) / name
    if store.exists("trials", name, DONE) and weights and not (local / "model" / "config.json").exists():
        for folder in ("tokenizer", "model"):  # config.json last: it marks the folder whole
            for file in sorted(store.files("trials", name, folder), key=lambda f: f == "config.json"):
                store.download(local / folder / file, "trials", name, folder, file)
    if store.exists("trials", name, DONE) and not (local / DONE).exists():
        for file in RESULT_FILES:  # DONE last
            if store.exists("trials", name, file):
                store.download(local / file, "trials", name, file)


def push_trial(root: str, name: str) -> None:
    """Upload a finished trial from this node's staging folder (a no-op for folders)."""
    publish(root, Path(trials_folder(root)) / name, "trials", name)


def mount_type(path: str | Path, mounts: str = "/proc/mounts") -> str:
    """The filesystem type of the mount holding ``path`` (the longest matching mount point in
    ``mounts``); "" if unknown."""
    path, best, kind = str(Path(path).resolve()), "", ""
    try:
        lines = Path(mounts).read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and (path == fields[1] or path.startswith(fields[1].rstrip("/") + "/")) \
                and len(fields[1]) >= len(best):
            best, kind = fields[1], fields[2]
    return kind


def is_network_fs(kind: str) -> bool:
    return kind.startswith("fuse.") or kind.split(".")[0] in NETWORK_FS
