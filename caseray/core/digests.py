"""Content digests of the folders a spec points at, so a trial's name changes when what it loads does.

``folder_digest(dir, names)`` hashes the named small files whole (a tokenizer's definition, a model's
config). ``weights_digest(dir)`` hashes every ``*.safetensors`` file's header (tensor names, dtypes,
shapes) and, of its data, the size and three 1 MiB samples (start, middle, end): retrained weights
of the same shapes change their bytes everywhere, so a sample catches them, and a 14 GB checkpoint
costs a few reads, not a full pass. Digests are cached per process by (path, size, mtime).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

SAMPLE = 1 << 20
MAX_HEADER = 100 << 20  # safetensors' own limit on a header's size


def folder_digest(directory: str | Path, names: tuple[str, ...]) -> str:
    """sha256 over the files ``names`` that exist in ``directory`` (name and content)."""
    h = hashlib.sha256()
    for name in sorted(names):
        path = Path(directory) / name
        if path.is_file():
            h.update(name.encode() + b"\0" + _file_digest(str(path), *_stamp(path)).encode())
    return h.hexdigest()[:16]


def weights_digest(directory: str | Path) -> str:
    h = hashlib.sha256()
    for path in sorted(Path(directory).glob("*.safetensors")):
        h.update(path.name.encode() + b"\0" + _sampled_digest(str(path), *_stamp(path)).encode())
    return h.hexdigest()[:16]


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=256)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest() if hasattr(hashlib, "file_digest") \
            else hashlib.sha256(f.read()).hexdigest()


@functools.lru_cache(maxsize=256)
def _sampled_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        head = f.read(8)
        header_len = int.from_bytes(head, "little") if len(head) == 8 else 0
        h.update(head + f.read(min(header_len, MAX_HEADER)))
        for at in (0, max(0, size // 2 - SAMPLE // 2), max(0, size - SAMPLE)):
            f.seek(at, os.SEEK_SET)
            h.update(f.read(SAMPLE))
    return h.hexdigest()
