"""The sweeps caseray ships, by name, each with its presets (``smoke`` for a laptop, ``local`` for a
2-core machine, ``paper`` for a cluster). ``sweeps/<name>.py`` launches one; ``caseray plan <name>``
prices one; neither executes a file from the working directory."""

from __future__ import annotations

from types import ModuleType

from caseray.core.errors import SpecError
from caseray.core.registry import Registry
from caseray.presets import halves, hole_atlas, hole_radius, lema, rfft_length, square_grid

SWEEPS: Registry[ModuleType] = Registry("sweep")
for _module in (square_grid, hole_radius, hole_atlas, lema, rfft_length, halves):
    SWEEPS.register(_module.__name__.rsplit(".", 1)[1])(_module)


def presets(sweep: str) -> dict[str, dict]:
    """The presets of a shipped sweep: {preset name: sweep mapping}."""
    return SWEEPS.get(sweep, "sweep").PRESETS


def preset(sweep: str, name: str) -> dict:
    """One preset as a sweep mapping (a fresh copy: callers may change it)."""
    import copy

    found = presets(sweep)
    if name not in found:
        raise SpecError("preset", f"sweep {sweep!r} has no preset {name!r}", sorted(found))
    return copy.deepcopy(found[name])


def description(sweep: str) -> str:
    return SWEEPS.get(sweep, "sweep").__doc__ or ""
