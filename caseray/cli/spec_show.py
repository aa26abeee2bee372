"""``caseray spec show trial|sweep``: every field of a spec as commented YAML -- its default, what it
is and the values allowed -- read off the fields' declarations (``caseray.core.fields``), which the
checks enforce, and the registries: it cannot go stale. What it prints loads back as the default spec;
``--flat`` prints the dotted keys that ``--set`` takes."""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing

from caseray.cli.common import Command, Group
from caseray.core import fields
from caseray.core.errors import SpecError
from caseray.core.plain_data import load_yaml

KINDS = ("trial", "sweep")
UNSET_GROUP = "unset; setting it takes the fields below"


def group_class(cls, name: str):
    """The dataclass a field holds (``LengthSpec`` for ``lengths: LengthSpec | None``), else None (a
    tuple of them, ``split.hold``, is one value: a list)."""
    hint = typing.get_type_hints(cls)[name]
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
    for arg in (hint, *options):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def default(f: dataclasses.Field):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def yaml_value(value) -> str:
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value)  # JSON is YAML 1.2: it loads back as it is


def flat_value(value) -> str:
    """As ``--set`` reads it back, one shell word: ``addition``, ``[10,19]``, ``null``."""
    text = json.dumps(list(value) if isinstance(value, tuple) else value, separators=(",", ":"))
    return value if isinstance(value, str) and load_yaml(value, "value") == value else text


def note(cls, name: str, extra: str = "") -> str:
    """A field's doc and what it allows (``caseray.core.fields``), joined for one comment."""
    return "; ".join(x for x in (fields.doc(cls, name), fields.allowed_note(cls, name), extra) if x)


def describe(cls, prefix: str = "", indent: str = "") -> list[str]:
    """The lines of ``cls``'s fields as YAML, each with its doc and allowed values; a group that is
    unset by default (``lema: null``) is followed by its own fields, commented out."""
    lines = []
    for f in dataclasses.fields(cls):
        dotted, value, group = f"{prefix}{f.name}", default(f), group_class(cls, f.name)
        if group is not None and value is not None:
            lines.append(f"{indent}{f.name}:" + comment(note(cls, f.name)))
            lines += describe(group, f"{dotted}.", indent + "  ")
            continue
        text = note(cls, f.name, UNSET_GROUP if group is not None else "")  # unset: the fields it takes
        lines.append(f"{indent}{f.name}: {yaml_value(value)}" + comment(text))
        if group is not None:
            lines += describe(group, f"{dotted}.", indent + "#   ")
    return lines


def comment(text: str) -> str:
    return f"  # {text}" if text else ""


def flat(cls, prefix: str = "", notes: bool = False) -> list[str]:
    """``dotted.key=default`` for every field ``--set`` takes (unset groups' fields included); with
    ``notes``, each followed by its doc and allowed values (``caseray trial --help``)."""
    out = []
    for f in dataclasses.fields(cls):
        group = group_class(cls, f.name)
        if group is not None:
            out += flat(group, f"{prefix}{f.name}.", notes)
        else:
            text = note(cls, f.name) if notes else ""
            out.append(f"{prefix}{f.name}={flat_value(default(f))}" + (f"\n      {text}" if text else ""))
    return out


def fields_help(kind: str) -> str:
    """The fields of a trial spec for ``--help``: each ``--set`` key, its default, doc and allowed values."""
    return f"{kind} spec fields (--set KEY=VALUE; caseray spec show {kind} prints them as YAML):\n" + \
        "\n".join(f"  {line}" for line in flat(spec_class(kind), notes=True))


def spec_class(kind: str):
    if kind == "trial":
        from caseray.trial.spec import TrialSpec

        return TrialSpec
    from caseray.sweep.spec import SweepSpec

    return SweepSpec


def cmd_spec_show(args) -> None:
    if args.kind not in KINDS:
        raise SpecError("kind", f"{args.kind!r} is not a spec", list(KINDS))
    cls = spec_class(args.kind)
    if args.flat:
        print("\n".join(flat(cls)))
        return
    head = {"trial": "# a trial spec: caseray trial --spec FILE (or --set key=value); defaults shown",
            "sweep": "# a sweep spec: caseray sweep run FILE; base is a trial spec (caseray spec show trial), "
                     "axes {dotted trial field: [values]}"}[args.kind]
    print("\n".join([head] + describe(cls)))


def add_show_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", help="trial or sweep")
    p.add_argument("--flat", action="store_true", help="dotted keys with their defaults, as --set takes them")


GROUP = Group("spec", "what a trial or sweep spec holds", (
    Command("show", "every field of a trial or sweep spec as commented YAML, with defaults and allowed values",
            add_show_args, cmd_spec_show, ("caseray spec show trial > my_trial.yaml",
                                           "caseray spec show sweep --flat")),
))
