"""Progress bars for long work: on a terminal, never in logs or CI.

``progress(iterable, desc)`` wraps an iterable in a ``tqdm`` bar on stderr; ``progress(None, desc,
total=n)`` is a bar updated by hand (``with ... as bar: bar.update(k)``). A bar appears only after
``DELAY_S`` seconds, so short work prints nothing, and is erased when the work ends. Whether bars
show at all: ``CASERAY_PROGRESS=1`` always (even into a file), ``0`` never, unset when stderr is a
terminal (tqdm's ``disable=None``). A bar costs about a microsecond per update when shown and
nothing measurable when not, so callers update per batch or chunk, never per element of vectorised
work.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from caseray.core.errors import SpecError

if TYPE_CHECKING:
    from tqdm import tqdm

DELAY_S = 2.0  # seconds of work before a bar appears
MININTERVAL_S = 0.5  # at most two redraws a second


def enabled() -> bool | None:
    """``CASERAY_PROGRESS``: True (1: bars even into a file), False (0: none), None (unset: stderr a terminal)."""
    value = os.environ.get("CASERAY_PROGRESS", "").strip()
    if value in ("", "0", "1"):
        return None if value == "" else value == "1"
    raise SpecError("CASERAY_PROGRESS", f"{value!r} is not 0 or 1", ["0", "1", "(unset: on a terminal)"])


def progress(iterable=None, desc: str = "", total: int | None = None, unit: str = "it", **kwargs) -> tqdm:
    """A tqdm bar on stderr over ``iterable`` (or updated by hand when it is None), shown as
    ``enabled()`` says, after ``DELAY_S`` seconds; ``kwargs`` go to tqdm."""
    from tqdm import tqdm  # loaded by the first bar: ``caseray --help`` never pays for it

    show = enabled()
    options = dict(desc=desc, total=total, unit=unit, file=sys.stderr, disable=None if show is None else not show,
                   delay=DELAY_S, mininterval=MININTERVAL_S, leave=False, dynamic_ncols=True)
    return tqdm(iterable, **{**options, **kwargs})


def relabel(bar: tqdm, desc: str) -> None:
    """A new description for ``bar``, drawn now if the bar is on screen, else when it first appears
    (tqdm's own ``set_description`` would draw it at once, before the delay)."""
    bar.set_description_str(desc, refresh=not bar.disable and bar.last_print_t >= bar.start_t + bar.delay)
