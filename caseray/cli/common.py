"""What every command line of caseray shares: spec files, ``--set`` overrides, and one way to fail:
a ``SpecError`` becomes ``caseray: error: <field>: <what is allowed>`` and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Callable

from caseray.core.errors import SpecError, WriteFailed
from caseray.core.plain_data import load_json, load_yaml
from caseray.core.redact import redact
from caseray.core.specs import short
from caseray.sweep.spec import set_dotted

PROG = "caseray"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def default_tracking_uri() -> str:
    """MLflow's own convention: ``MLFLOW_TRACKING_URI`` when set, else a sqlite file here."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def add_tracking_uri(p: argparse.ArgumentParser, help: str = "MLflow store") -> None:
    """``--tracking-uri``; read it with ``tracking_uri(args)`` (None here: nothing was given)."""
    p.add_argument("--tracking-uri", help=f"{help} (default: $MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI})")


def tracking_uri(args) -> str:
    """The flag, else ``$MLFLOW_TRACKING_URI``, else the sqlite file here."""
    return args.tracking_uri or default_tracking_uri()


def tracking_uri_given(args) -> bool:
    """Whether the user named a store (the flag or ``$MLFLOW_TRACKING_URI``): reading a sweep logs to
    MLflow only then, so a report never creates ./mlflow.db on its own."""
    return bool(args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"))


@dataclass(frozen=True)
class Command:
    """One ``caseray`` command: its name, one line of help, its arguments and what it runs. ``run``
    returns an exit code (None: 0); a ``SpecError`` it raises becomes exit 2."""

    name: str
    help: str
    add_args: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int | None]
    examples: tuple[str, ...] = ()  # whole command lines, shown at the end of --help (and parsed by tests)
    more_help: Callable[[], str] | None = None  # more text for --help, after the examples (a spec's fields)


@dataclass(frozen=True)
class Group:
    """Commands under one word: ``caseray data show``, ``caseray sweep run``."""

    name: str
    help: str
    commands: tuple[Command, ...]

    @property
    def examples(self) -> tuple[str, ...]:
        return tuple(c.examples[0] for c in self.commands if c.examples)


def add_commands(parser: argparse.ArgumentParser, table, dest: str = "command") -> None:
    """Subcommands from a table of ``Command``s and ``Group``s; each sets ``args.run``."""
    sub = parser.add_subparsers(dest=dest, required=True)
    for entry in table:
        more = getattr(entry, "more_help", None)
        p = sub.add_parser(entry.name, help=entry.help, description=entry.help,
                           epilog=epilog(entry.examples, more() if more else None),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if isinstance(entry, Group):
            add_commands(p, entry.commands, f"{dest}_{entry.name}")
        else:
            entry.add_args(p)
            p.set_defaults(run=entry.run)


def epilog(examples, more: str | None = None) -> str | None:
    parts = (["examples:\n" + "\n".join(f"  {e}" for e in examples)] if examples else []) + ([more] if more else [])
    return "\n\n".join(parts) or None


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose refusals never print a credential: argparse echoes a bad
    value (``invalid int value: 's3://KEY:SECRET@bucket'``), so its message is redacted first."""

    def error(self, message):
        super().error(redact(message))


def guarded(fn: Callable, *args) -> int:
    """Call ``fn(*args)``; bad input (a ``SpecError``) prints ``caseray: error: <field>: ...`` and gives
    exit code 2, a write the machine refused (``WriteFailed``: disk full, permission lost, read-only
    file system) one line and exit code 74 -- never a traceback. The one place every command line
    turns errors into codes."""
    try:
        code = fn(*args)
    except SpecError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except WriteFailed as err:  # the machine refused a write mid-run: one line, what a rerun needs
        print(f"{PROG}: error: {err}; an unfinished trial has no metrics.json and runs again from the "
              "start (or its last checkpoint) once there is room", file=sys.stderr)
        return WriteFailed.EXIT_CODE
    except BrokenPipeError:  # the reader went away (``caseray spec show trial | head``): end quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so exit's flush cannot fail again
        return 141  # as a process killed by SIGPIPE
    return int(code or 0)


MAX_SPEC_BYTES = 10 * 1024 * 1024


def load_mapping(path: str, field: str = "spec") -> dict:
    """A YAML or JSON file holding one mapping, as plain data (``caseray.core.plain_data``)."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SPEC_BYTES + 1)
    except (OSError, ValueError) as err:  # (ValueError: a NUL in the path)
        raise SpecError(field, f"cannot read {short(path)}: {getattr(err, 'strerror', None) or err}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(field, f"{short(path)} is larger than {MAX_SPEC_BYTES // 2**20} MiB", ["a spec file"])
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise SpecError(field, f"{short(path)} is not UTF-8 text") from None
    data = load_json(text, field) if path.endswith(".json") else load_yaml(text, field)
    if not isinstance(data, dict):
        raise SpecError(field, f"{short(path)} does not hold a mapping")
    return data


def apply_sets(data: dict, sets: list[str], flag: str = "--set") -> dict:
    """``key.sub=value`` overrides (values read as YAML 1.2: 3, 1e-3, true, [50, 50], addition)."""
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise SpecError(flag, f"expected key=value, got {short(item)}")
        set_dotted(data, key, load_yaml(value, f"{flag} {short(key, 60, quote=False)}"))
    return data


def script(main: Callable[[], int | None]) -> None:
    """Run a script's ``main()`` (``analysis/``, ``sweeps/``) and exit with its code, bad input as 2."""
    sys.exit(guarded(main))
