"""Output folders: checked before anything runs, and the machine's refusals while writing them.

``check_output_folder(path, field)`` refuses (``SpecError``, exit 2) a path that is a file, lies
inside a file, or whose nearest existing folder this user cannot write to (permissions, a read-only
file system), creating nothing. ``writing(path, what)`` turns an error the operating system raises
while writing -- disk full, quota, permission lost, read-only file system, an I/O error -- into
``WriteFailed`` naming the path and what was being written (one line, exit 74, no traceback).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from pathlib import Path

from caseray.core.errors import SpecError, WriteFailed, causes

ENVIRONMENT = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG}
# safetensors raises its own error type with an io::Error's text: "... (os error 28)" or "Os { code: 28"
RUST_IO = re.compile(r"\(os error (\d+)\)|Os \{ code: (\d+)")


def check_output_folder(path: str | Path, field: str) -> Path:
    """``path`` as a folder this user can create or write to; else a ``SpecError`` naming ``field``."""
    path = Path(path).expanduser().absolute()
    allowed = ["a folder path this user can write to"]
    for existing in (path, *path.parents):  # the nearest part of the path that is there
        try:
            info = existing.stat()
            break
        except (FileNotFoundError, NotADirectoryError):  # not there, or a file further up: found on the way
            continue
        except OSError as err:
            raise SpecError(field, f"{existing} cannot be reached: {err.strerror}", allowed) from None
    if not stat.S_ISDIR(info.st_mode):
        where = "is a file, not a folder" if existing == path else f"lies inside {existing}, which is a file"
        raise SpecError(field, f"{path} {where}", allowed)
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "is on a read-only file system" if _read_only(existing) else "is not writable by this user"
        raise SpecError(field, f"{existing} {why}", allowed)
    return path


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def os_error(err: BaseException) -> int | None:
    """The errno behind ``err`` (itself, its cause or context, or safetensors' text), if any."""
    for seen in causes(err):
        if isinstance(seen, OSError) and seen.errno is not None:
            return seen.errno
        found = RUST_IO.search(str(seen)) if type(seen).__name__ == "SafetensorError" else None
        if found:
            return int(found.group(1) or found.group(2))
    return None


@contextlib.contextmanager
def writing(path: str | Path, what: str):
    """Writes inside: an environment failure becomes ``WriteFailed(path, what, reason)``."""
    try:
        yield
    except WriteFailed:
        raise
    except Exception as err:
        code = os_error(err)
        if code not in ENVIRONMENT:
            raise
        raise WriteFailed(getattr(err, "filename", None) or path, what, os.strerror(code)) from err
