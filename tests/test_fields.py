"""Each spec field is declared once (``caseray.core.fields``): its doc and allowed values are what the
checks enforce, what a ``SpecError`` names, what ``caseray spec show`` and ``caseray trial --help``
print -- with no source file involved."""

from __future__ import annotations

import compileall
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from caseray.cli.main import main
from caseray.cli.spec_show import group_class
from caseray.core import fields
from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.sweep.spec import Resources, SweepSpec
from caseray.trial.spec import TrialSpec

ROOT = Path(__file__).resolve().parents[1]
# what a trial needs before a group's fields are checked at all (a LEMA trial writes steps, ...)
GROUP_BASES = {"lema": {"format": "scratchpad", "lema": {}}, "lengths": {"tokenizer": "digit", "lengths": {}},
               "model.lora": {"model": {"lora": {}}}}


def leaves(cls, prefix: str = ""):
    """(owning class, field name, dotted key) for every field ``--set`` takes under ``cls``."""
    for f in dataclasses.fields(cls):
        group = group_class(cls, f.name)
        if group is not None:
            yield from leaves(group, f"{prefix}{f.name}.")
        else:
            yield cls, f.name, f"{prefix}{f.name}"


TRIAL_LEAVES = list(leaves(TrialSpec))
SWEEP_LEAVES = list(leaves(SweepSpec))


def nested(dotted: str, value, base: dict) -> dict:
    import copy

    data = copy.deepcopy(base)
    node = data
    *parents, key = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[key] = value
    return data


def base_for(dotted: str) -> dict:
    return next((base for prefix, base in GROUP_BASES.items() if dotted.startswith(prefix + ".")), {})


def bad_numbers(bounds: fields.Bounds) -> list:
    """Values just outside the declared range (and the excluded low end itself)."""
    step = 1 if bounds.kind is int else 0.5
    out = [] if bounds.low is None else [bounds.low - step] + ([bounds.low] if bounds.low_open else [])
    return out + ([] if bounds.high is None else [bounds.high + step])


def test_every_field_a_person_sets_is_documented():
    for cls, name, dotted in TRIAL_LEAVES + SWEEP_LEAVES:
        assert fields.doc(cls, name).strip(), f"{dotted} has no doc"


@pytest.mark.parametrize("cls,name,dotted", [leaf for leaf in TRIAL_LEAVES if fields.choices(leaf[0], leaf[1])],
                         ids=lambda x: x if isinstance(x, str) else "")
def test_a_value_outside_the_declared_choices_is_refused_naming_them(cls, name, dotted):
    choices = fields.choices(cls, name)
    value = ["no-such-choice"] if isinstance(getattr(cls(), name), tuple) else \
        ("no-such-choice" if isinstance(choices[0], str) else 999)
    with pytest.raises(SpecError) as err:
        from_dict(TrialSpec, nested(dotted, value, base_for(dotted)))
    assert err.value.field.startswith(dotted), str(err.value)
    assert all(str(c) in str(err.value) for c in choices), str(err.value)


@pytest.mark.parametrize("cls,name,dotted", [leaf for leaf in TRIAL_LEAVES
                                             if fields.allowed_note(leaf[0], leaf[1]).startswith("range")],
                         ids=lambda x: x if isinstance(x, str) else "")
def test_a_number_outside_the_declared_range_is_refused_naming_it(cls, name, dotted):
    bounds = dataclasses.fields(cls)[[f.name for f in dataclasses.fields(cls)].index(name)].metadata["bounds"]
    for value in bad_numbers(bounds):
        with pytest.raises(SpecError) as err:
            from_dict(TrialSpec, nested(dotted, value, base_for(dotted)))
        assert err.value.field == dotted, str(err.value)
        assert f"(allowed: {bounds.text()})" in str(err.value), str(err.value)


def test_resources_ranges_and_choices_come_from_their_declarations():
    for name, value in (("num_workers", 0), ("cpus_per_trial", 0), ("gpus_per_trial", -1), ("zero_stage", 4),
                        ("max_concurrent_trials", 0), ("backend", "mpi")):
        with pytest.raises(SpecError) as err:
            Resources(**{name: value})
        assert err.value.field == name and f"(allowed: {', '.join(fields.allowed(Resources, name))})" \
            in str(err.value), str(err.value)


def test_bounds_text_reads_as_a_range():
    assert [b.text() for b in (fields.ints(1, 50), fields.ints(0), fields.floats(0.0, 1.0, low_open=True),
                               fields.floats(0.0, 1e6), fields.ints(None, 5))] == \
        ["1 .. 50", ">= 0", "> 0 and <= 1", "0 .. 1,000,000", "<= 5"]


def test_spec_show_and_help_print_each_declared_doc_and_allowed_values(capsys):
    assert main(["spec", "show", "trial", "--flat"]) == 0
    flat_keys = [line.split("=")[0] for line in capsys.readouterr().out.split()]
    assert flat_keys == [dotted for _, _, dotted in TRIAL_LEAVES]
    with pytest.raises(SystemExit):
        main(["trial", "--help"])
    text = capsys.readouterr().out
    for cls, name, dotted in TRIAL_LEAVES:
        note = "; ".join(x for x in (fields.doc(cls, name), fields.allowed_note(cls, name)) if x)
        assert f"\n  {dotted}=" in text and f"\n      {note}\n" in text, dotted


def test_spec_show_needs_no_source_files(tmp_path):
    """The package compiled and its .py files removed (as a sourceless install): spec show still
    prints every doc -- the old reader took them from source comments with ``inspect``."""
    package = tmp_path / "caseray"
    shutil.copytree(ROOT / "caseray", package, ignore=shutil.ignore_patterns("__pycache__"))
    assert compileall.compile_dir(package, legacy=True, quiet=1)
    for source in package.rglob("*.py"):
        source.unlink()
    def run(code: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                              env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=120)

    no_source = run("import inspect; from caseray.trial.spec import TrialSpec; inspect.getsource(TrialSpec)")
    assert no_source.returncode == 1 and "could not get source code" in no_source.stderr  # (as intended)
    proc = run("import caseray, sys; from caseray.cli.main import main; print(caseray.__file__, file=sys.stderr); "
               "sys.exit(main(['spec', 'show', 'trial']))")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert str(package / "__init__.pyc") in proc.stderr  # this copy ran, not the checkout
    for cls, name, dotted in TRIAL_LEAVES:
        assert fields.doc(cls, name) in proc.stdout, dotted
