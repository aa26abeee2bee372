"""Folders a spec points at (``path:<dir>`` checkpoints, ``hf:<dir>`` tokenizers): resolved to an
absolute path when the spec is built (a trial's process runs in another working directory), checked
to hold what they should, and never trusted to run code: a folder that declares its own code
(``auto_map`` in its JSON configs) is refused, and every loader is told ``trust_remote_code=False``.

A trial records what it needs to know of its folders (``folders.json``: their digests, a checkpoint's
model family); a spec read back from results on a machine without those folders uses the record
(``remember``), so reports and analysis never need the weights.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from caseray.core.errors import SpecError
from caseray.core.specs import short

MAX_PATH = 4096
FOLDERS_FILE = "folders.json"  # beside a trial's spec.json: {"path:<dir>" | "hf:<dir>": record}
_REMEMBERED: dict[str, dict] = {}  # what trials recorded of their folders, for specs read back


def remember(records: dict) -> None:
    """Records a trial wrote of its folders (``FOLDERS_FILE``), used where a folder is not on this machine."""
    if not isinstance(records, dict) or not all(isinstance(v, dict) for v in records.values()):
        raise SpecError(FOLDERS_FILE, "expected {'path:<dir>' or 'hf:<dir>': {...}}")
    _REMEMBERED.update(records)


def recorded(kind: str, folder: str | Path) -> dict | None:
    """What a trial recorded of ``kind:folder`` (``path`` or ``hf``) when the folder is not here, else None."""
    record = _REMEMBERED.get(f"{kind}:{folder}")
    return record if record is not None and not Path(folder).exists() else None


def resolve_folder(text: str, field: str, what: str, allowed: str) -> Path:
    """``text`` as an absolute folder path; a ``SpecError`` naming ``field`` if it is not a folder."""
    if not text or len(text) > MAX_PATH or "\0" in text:
        raise SpecError(field, f"{short(text)} is not a folder path", allowed)
    try:
        path = Path(text).expanduser().resolve()
        is_dir = path.is_dir()
    except (OSError, RuntimeError, ValueError) as err:  # too long, a symlink loop, unreadable
        raise SpecError(field, f"cannot look at {short(text)}: {err}", allowed) from None
    if not is_dir:
        raise SpecError(field, f"no {what} folder at {short(text)} (caseray never downloads)", allowed)
    return path


def refuse_code(folder: Path, files: tuple[str, ...], field: str) -> None:
    """A folder whose configs name code of their own (``auto_map``) is refused: caseray never runs
    code from a data folder."""
    for name in files:
        path = folder / name
        if not path.is_file():
            continue
        try:
            config = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise SpecError(field, f"{path} is not readable JSON ({type(err).__name__})") from None
        if isinstance(config, dict) and "auto_map" in config:
            raise SpecError(field, f"{path} names code of its own (auto_map): caseray never runs code from a "
                            "data folder", "a folder whose model and tokenizer transformers ships")


@contextlib.contextmanager
def loading(folder, what: str, field: str, allowed: str):
    """Whatever a loader raises on a folder's contents (a bad header, a wrong config, code it would
    need to run) is bad input naming ``field``, not a traceback; running out of memory is not."""
    try:
        yield
    except (MemoryError, SpecError):
        raise
    except Exception as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SpecError(field, f"transformers cannot load {what} from {short(str(folder))}: "
                        f"{short(detail, 300, False)}", allowed) from None
