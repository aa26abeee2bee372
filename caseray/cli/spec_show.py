"""``caseray spec show trial|sweep``: every field of a spec as commented YAML -- its default, what it
is (the comment beside the field in the dataclass) and the values allowed -- read off the dataclasses
and registries themselves, so it cannot go stale. What it prints loads back as the default spec;
``--flat`` prints the dotted keys that ``--set`` takes."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import json
import re
import tokenize
import typing

from caseray.cli.common import Command, Group
from caseray.core.errors import SpecError
from caseray.core.plain_data import load_yaml

KINDS = ("trial", "sweep")
UNSET_GROUP = "unset; setting it takes the fields below"


def allowed_values() -> dict[str, list[str]]:
    """The values each choice field takes, from the registries and the specs' own constants."""
    from caseray.data.faults import KINDS as FAULT_KINDS
    from caseray.data.formats import FORMATS
    from caseray.data.splits import SPLIT_KINDS
    from caseray.data.tasks import TASKS
    from caseray.data.tokenizers import TOKENIZERS
    from caseray.lema.corrector import ABLATIONS
    from caseray.lema.spec import SOURCES
    from caseray.sweep.spec import BACKENDS
    from caseray.train.models import SCALES
    from caseray.train.positions import POSITIONS
    from caseray.train.spec import PRECISIONS, SCHEDULES
    from caseray.trial.spec import DEVICES

    tokenizers = [n for n in TOKENIZERS.names() if n != "hf"] + ["number:<bound>", "hf:<local dir>"]
    return {"task.name": TASKS.names(), "format": FORMATS.names(), "tokenizer": tokenizers,
            "split.kind": list(SPLIT_KINDS), "model.scale": SCALES.names() + ["path:<local checkpoint dir>"],
            "model.positions": [*POSITIONS, "null (the family's own)"], "train.schedule": list(SCHEDULES),
            "train.precision": list(PRECISIONS), "device": list(DEVICES), "lema.mistake_source": list(SOURCES),
            "lema.ablation": list(ABLATIONS), "lema.error_kinds": list(FAULT_KINDS),
            "resources.backend": list(BACKENDS)}


def field_comments(cls) -> dict[str, str]:
    """``{field: the comment on its line}`` from the class's source (``name: type = default  # ...``)."""
    comments, line_field = {}, {}
    source = inspect.getsource(cls)
    for number, line in enumerate(source.splitlines(), start=1):
        match = re.match(r"    (\w+):", line)  # a field of this class, not of a nested one
        if match:
            line_field[number] = match.group(1)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and tok.start[0] in line_field:
            comments[line_field[tok.start[0]]] = tok.string.lstrip("# ").strip()
    return comments


def group_class(cls, name: str):
    """The dataclass a field holds (``LengthSpec`` for ``lengths: LengthSpec | None``), else None."""
    hint = typing.get_type_hints(cls)[name]
    for arg in (hint, *typing.get_args(hint)):
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


def describe(cls, allowed: dict[str, list[str]], prefix: str = "", indent: str = "") -> list[str]:
    """The lines of ``cls``'s fields as YAML, each with its comment and allowed values; a group that
    is unset by default (``lema: null``) is followed by its own fields, commented out."""
    lines, comments = [], field_comments(cls)
    for f in dataclasses.fields(cls):
        dotted, value, group = f"{prefix}{f.name}", default(f), group_class(cls, f.name)
        note = "; ".join(x for x in (comments.get(f.name, ""),
                                     "one of: " + ", ".join(allowed[dotted]) if dotted in allowed else "") if x)
        if group is not None and value is not None:
            lines.append(f"{indent}{f.name}:" + (f"  # {note}" if note else ""))
            lines += describe(group, allowed, f"{dotted}.", indent + "  ")
            continue
        if group is not None:  # unset by default: the fields that setting it takes, commented out
            note = "; ".join(x for x in (note, UNSET_GROUP) if x)
        lines.append(f"{indent}{f.name}: {yaml_value(value)}" + (f"  # {note}" if note else ""))
        if group is not None:
            lines += describe(group, allowed, f"{dotted}.", indent + "#   ")
    return lines


def flat(cls, prefix: str = "") -> list[str]:
    """``dotted.key=default`` for every field ``--set`` takes (unset groups' fields included)."""
    out = []
    for f in dataclasses.fields(cls):
        group = group_class(cls, f.name)
        if group is not None:
            out += flat(group, f"{prefix}{f.name}.")
        else:
            out.append(f"{prefix}{f.name}={flat_value(default(f))}")
    return out


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
    print("\n".join([head] + describe(cls, allowed_values())))


def add_show_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", help="trial or sweep")
    p.add_argument("--flat", action="store_true", help="dotted keys with their defaults, as --set takes them")


GROUP = Group("spec", "what a trial or sweep spec holds", (
    Command("show", "every field of a trial or sweep spec as commented YAML, with defaults and allowed values",
            add_show_args, cmd_spec_show, ("caseray spec show trial > my_trial.yaml",
                                           "caseray spec show sweep --flat")),
))
