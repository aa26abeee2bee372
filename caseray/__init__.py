"""caseray: do transformers do arithmetic by cases or by rules? Data, trials and Ray sweeps.

The package is layered along the data flow, each layer importing only those before it:
``core`` -> ``data`` -> ``train`` -> ``lema`` -> ``trial`` -> ``sweep`` -> ``report`` -> ``presets`` -> ``cli``
(docs/ARCHITECTURE.md). The names most users need are here, loaded on first use (so ``import caseray``
stays light): ``TrialSpec``, ``run_trial``, ``SweepSpec``, ``run_sweep``, ``from_dict``, ``SpecError``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

PUBLIC = {
    "SpecError": "caseray.core.errors",
    "from_dict": "caseray.core.specs",
    "TrialSpec": "caseray.trial.spec",
    "run_trial": "caseray.trial.run",
    "SweepSpec": "caseray.sweep.spec",
    "run_sweep": "caseray.sweep.ray",
}
__all__ = list(PUBLIC)


def __getattr__(name: str):
    if name in PUBLIC:
        return getattr(importlib.import_module(PUBLIC[name]), name)
    raise AttributeError(f"module 'caseray' has no attribute {name!r}")
