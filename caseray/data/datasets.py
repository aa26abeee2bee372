"""Datasets: pure functions of a frozen spec and its seed, versioned, cached as parquet.

- ``GridDataSpec``: every valid cell of a task's grid in one format and tokenizer, labelled by a
  split (train / test / unused), with ring and distance-to-training columns.
- ``LengthDataSpec``: n-digit additions sampled per digit length for length generalization.

``load_dataset(spec)`` returns the table, building and caching it (atomically) on first use. The
cache file is named by a hash of everything that decides its contents, generator versions included.
"""

from __future__ import annotations

import json
import os
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from caseray.core.atomic import atomic_path
from caseray.core.errors import SpecError
from caseray.core.fields import allowed, check_fields, ints, spec_field
from caseray.core.paths import writing
from caseray.core.progress import progress, relabel
from caseray.core.specs import check_int, short, stable_hash, to_dict
from caseray.data.formats import get_format
from caseray.data.formats.options import CARRIES_FORM, DIGIT_RUN, HINTS, FormatOptions
from caseray.data.length_families import FAMILIES, LEGACY, draw, legacy_pairs, n_digits, pool_size
from caseray.data.splits import SplitSpec, make_split, resolve_squares, test_count
from caseray.data.tasks import TaskSpec, build_task
from caseray.data.tokenizers import ROLES, Tokenizer, build_tokenizer, check_tokenizer

DATA_VERSION = 2  # bump when the table layout or any shared generation logic changes (2: own-square rings)
LENGTH_DATA_VERSION = 3  # length datasets' own (3: problem families, digits_a / digits_b / family columns)
SPEC_KEY = b"caseray.spec"
TEXT_CHUNK = 1024  # rows written between progress updates


def cache_root(override: str | Path | None = None) -> Path:
    """caseray's cache folder: ``override``, else ``$CASERAY_CACHE``, else ``~/.cache/caseray``."""
    return Path(override or os.environ.get("CASERAY_CACHE") or Path.home() / ".cache" / "caseray")


def cache_dir(override: str | Path | None = None) -> Path:
    return cache_root(override) / "data"


@dataclass(frozen=True)
class GridDataSpec:
    task: TaskSpec = field(default_factory=TaskSpec)
    format: str = "direct"
    split: SplitSpec = field(default_factory=SplitSpec)
    tokenizer: str = "number"
    data_size: int | None = spec_field(None, "subsample this many training cells (the test set is unchanged)",
                                       bounds=ints(1))
    seed: int = spec_field(0, "the subsample's seed", bounds=ints(0))
    format_options: FormatOptions | None = None  # reverse / index hints (None: the format as it is)

    def __post_init__(self):
        task = build_task(self.task)
        get_format(self.format, task, options=self.format_options)
        object.__setattr__(self, "tokenizer", check_tokenizer(self.tokenizer))  # hf:<dir> made absolute
        check_roles(self.tokenizer, self.format_options)
        check_fields(self)
        try:  # the grid-dependent checks: squares inside, not overlapping, guard
            squares = resolve_squares(task, self.split)
            n_test = test_count(task, self.split, squares)
        except SpecError as err:
            raise SpecError(err.field if err.field.startswith("split") else f"split.{err.field}",
                            err.message, err.allowed) from None
        n_train = len(task.cells()[0]) - n_test
        if self.data_size is not None and self.data_size > n_train:
            raise SpecError("data_size", f"{self.data_size} is larger than the {n_train} training cells",
                            f"1..{n_train}")

    kind = "grid"

    def key(self, tokenizer: Tokenizer) -> dict:
        task = build_task(self.task)
        return {"kind": self.kind, "data_version": DATA_VERSION, "task": self.task.key(),
                "task_version": task.version, "format": self.format,
                "format_version": get_format(self.format).version, "split": to_dict(self.split.effective()),
                "tokenizer": tokenizer.fingerprint(), "data_size": self.data_size, "seed": self.seed,
                **options_key(self.format_options)}

    def build(self, tokenizer: Tokenizer) -> pa.Table:
        task = build_task(self.task)
        fmt = get_format(self.format, task, options=self.format_options)
        s = make_split(task, self.split, self.data_size, self.seed)
        cells = list(zip(s.a.tolist(), s.b.tolist()))
        columns = {
            "a": pa.array(s.a, pa.int64()), "b": pa.array(s.b, pa.int64()),
            "split": pa.array(s.split), "ring": pa.array(s.ring), "square": pa.array(s.square),
            "dist_train": pa.array(s.dist_train),
        }
        columns.update(text_columns(task, fmt, tokenizer, cells, s.split == "train", self.seed))
        return pa.table(columns)


def check_roles(tokenizer: str, options: FormatOptions | None) -> None:
    """``number_roles`` / ``digit_roles`` give a line's second number its own ids; index hints write
    every digit apart (``b5a9+b1a3=``), where the second "number" is a digit of a: refused together."""
    name = tokenizer.split(":")[0]
    if name in ROLES and options is not None and options.index_hints:
        raise SpecError("tokenizer", f"{name} marks the second number of a line; with index hints "
                        "every digit stands apart, so the role would fall on a digit of a", ["number", "digit"])


def options_key(options: FormatOptions | None) -> dict:
    """The options' part of a dataset key: nothing when unset, so plain datasets keep their names."""
    if options is None or options.plain:
        return {}
    key = to_dict(options)
    if not options.carries:  # (added later: datasets without it keep their names)
        del key["carries"]
        return {"format_options": key}
    return {"format_options": key, "carries_form": CARRIES_FORM}


@dataclass(frozen=True)
class LengthSpec:
    """What a length-generalization trial trains and tests on (``TrialSpec.lengths``): additions of
    length n (the longer operand's digits), ``*_per_length`` problems per length drawn from named
    families (``caseray.data.length_families``: equal, mixed, short_long, carry, zero). Tests hold
    every family by default, training equal lengths only unless asked. Validated by ``LengthDataSpec``."""

    train_digits: tuple[int, int] = spec_field((1, 5), "training lengths, lowest and highest (1 .. 200)")
    test_digits: tuple[int, int] = spec_field((1, 15), "test lengths, lowest and highest (1 .. 200)")
    train_per_length: int = spec_field(2000, "problems per training length, shared by the train families",
                                       bounds=ints(0))
    test_per_length: int = spec_field(100, "problems per test length and family", bounds=ints(1))
    train_families: tuple[str, ...] = spec_field(LEGACY, "which families training draws from (distinct)",
                                                 choices=FAMILIES)
    test_families: tuple[str, ...] = spec_field(FAMILIES, "which families every test length holds (distinct)",
                                                choices=FAMILIES)
    version: int = spec_field(LENGTH_DATA_VERSION, "3: the families; 2: equal lengths only, drawn as before "
                              "them", choices=(2, LENGTH_DATA_VERSION))


@dataclass(frozen=True)
class LengthDataSpec(LengthSpec):
    """A length dataset: a ``LengthSpec`` (its digit ranges, inclusive, and problems per length) of
    one task, format and tokenizer, drawn with ``seed``."""

    task: TaskSpec = spec_field(doc="addition or base9_addition", factory=TaskSpec)
    format: str = "direct"
    tokenizer: str = "digit"
    seed: int = spec_field(0, "draws the problems", bounds=ints(0))
    format_options: FormatOptions | None = None

    def __post_init__(self):
        task = build_task(self.task)
        if not task.length_ok:
            raise SpecError("task.name", f"task {task.name!r} has no n-digit problems",
                            ["addition", "base9_addition"])
        get_format(self.format, task, options=self.format_options)
        object.__setattr__(self, "tokenizer", check_tokenizer(self.tokenizer))  # hf:<dir> made absolute
        check_roles(self.tokenizer, self.format_options)
        for name in ("train_digits", "test_digits"):
            lo, hi = getattr(self, name)
            check_int(f"{name}[0]", lo, minimum=1, maximum=200)
            check_int(f"{name}[1]", hi, minimum=lo, maximum=200)
        for name in ("train_families", "test_families"):
            families = getattr(self, name)
            if not isinstance(families, (list, tuple)) or not families or len(set(families)) != len(families) \
                    or not all(isinstance(f, str) and f in FAMILIES for f in families):
                shown = list(families) if isinstance(families, tuple) else families
                raise SpecError(name, f"{short(shown)} is not a non-empty list of distinct families",
                                allowed(LengthSpec, name))
            object.__setattr__(self, name, tuple(families))
        check_fields(self)
        if self.version == 2 and (self.train_families, self.test_families) != (LEGACY, LEGACY):
            raise SpecError("version", "length data version 2 held equal lengths only",
                            ["3", "or train_families and test_families: [equal]"])
        if self.format_options is not None and self.format_options.index_hints \
                and max(self.test_digits[1], self.train_digits[1]) + 1 > len(HINTS):
            raise SpecError("format_options.index_hints", f"{len(HINTS)} place letters cannot tag "
                            f"{max(self.test_digits[1], self.train_digits[1]) + 1}-digit answers",
                            f"test_digits up to {len(HINTS) - 1}")

    kind = "length"

    def key(self, tokenizer: Tokenizer) -> dict:
        out = to_dict(self)
        out["task"] = self.task.key()
        out.pop("format_options")
        out.update(options_key(self.format_options))
        out.update(kind=self.kind, data_version=LENGTH_DATA_VERSION, tokenizer=tokenizer.fingerprint(),
                   task_version=build_task(self.task).version,
                   format_version=get_format(self.format).version)
        return out

    def build(self, tokenizer: Tokenizer) -> pa.Table:
        task = build_task(self.task)
        fmt = get_format(self.format, task, options=self.format_options)
        rng = random.Random(self.seed)
        rows: list[tuple[int, int, int, str, str]] = []  # a, b, n, family, split
        lengths = sorted(set(range(self.train_digits[0], self.train_digits[1] + 1))
                         | set(range(self.test_digits[0], self.test_digits[1] + 1)))
        for n in lengths:
            rows += self.problems(n, task.base, rng)
        cells = [(r[0], r[1]) for r in rows]
        columns = {"a": pa.array([str(a) for a, _ in cells]), "b": pa.array([str(b) for _, b in cells]),
                   "n_digits": pa.array([r[2] for r in rows], pa.int32()),
                   "digits_a": pa.array([n_digits(a, task.base) for a, _ in cells], pa.int32()),
                   "digits_b": pa.array([n_digits(b, task.base) for _, b in cells], pa.int32()),
                   "family": pa.array([r[3] for r in rows]), "split": pa.array([r[4] for r in rows])}
        columns.update(text_columns(task, fmt, tokenizer, cells, np.array([r[4] == "train" for r in rows]),
                                    self.seed))
        return pa.table(columns)

    def problems(self, n: int, base: int, rng: random.Random) -> list[tuple[int, int, int, str, str]]:
        """Length n's test problems (``test_per_length`` of each test family), then its training ones
        (``train_per_length`` shared by the train families), all distinct. At a trained length whose
        problems are few (every pair of length n: the ``mixed`` pool), the test takes at most half of
        them, shared by its families."""
        seen: set[tuple[int, int]] = set()
        out = []
        n_train = self.train_per_length if self.train_digits[0] <= n <= self.train_digits[1] else 0
        if self.version == 2:  # as drawn before the families: its trials re-run on the same problems
            n_test = self.test_per_length if self.test_digits[0] <= n <= self.test_digits[1] else 0
            test, train = legacy_pairs(rng, n, base, n_test, n_train)
            return [(a, b, n, "equal", "test") for a, b in test] + [(a, b, n, "equal", "train") for a, b in train]
        if self.test_digits[0] <= n <= self.test_digits[1]:
            count = self.test_per_length
            if n_train:
                count = min(count, max(1, pool_size("mixed", n, base) // 2 // len(self.test_families)))
            for family in self.test_families:
                out += [(a, b, n, family, "test") for a, b in draw(family, n, base, count, rng, seen)]
        shares = np.diff(np.linspace(0, n_train, len(self.train_families) + 1).round().astype(int))
        for family, count in zip(self.train_families, shares):
            out += [(a, b, n, family, "train") for a, b in draw(family, n, base, int(count), rng, seen)]
        return out


def text_columns(task, fmt, tokenizer: Tokenizer, cells, training=None, seed: int = 0) -> dict[str, pa.Array]:
    """prompt / target / answer text and their token ids (targets end with the eos token). With index
    hints, the ``training`` rows' place letters start at a random offset (``hint_offsets``)."""
    fmts = [fmt] * len(cells)
    if getattr(fmt, "options", None) is not None and fmt.options.index_hints and training is not None:
        fmts = [fmt.with_offset(o) for o in hint_offsets(task, fmt, cells, training, seed)]
    prompts, targets, answers = [], [], []
    with progress(None, f"{task.name} {fmt.name}: writing", total=len(cells), unit="row") as bar:
        for start in range(0, len(cells), TEXT_CHUNK):  # the bar moves per chunk, not per row
            part, chunk = fmts[start:start + TEXT_CHUNK], cells[start:start + TEXT_CHUNK]
            prompts += [f.prompt(task, a, b) for f, (a, b) in zip(part, chunk)]
            targets += [f.target(task, a, b) for f, (a, b) in zip(part, chunk)]
            answers += [task.answer(a, b) for a, b in chunk]
            bar.update(len(chunk))
        relabel(bar, f"{task.name} {fmt.name}: tokenizing")
        columns = token_columns(tokenizer, prompts, targets)
    columns["answer"] = pa.array(answers)
    return columns


def hint_offsets(task, fmt, cells, training, seed: int) -> list[int]:
    """Per row, where its place letters start: 0 for test rows; for a training row, uniform over the
    offsets at which its longest number still has letters (its own stream: other draws unchanged)."""
    rng = random.Random(f"index-hints-{seed}")
    out = []
    for (a, b), train in zip(cells, training):
        if not train:
            out.append(0)
            continue
        text = fmt.base.prompt(task, a, b) + task.answer(a, b)
        longest = max(len(m) for m in DIGIT_RUN.findall(text))
        out.append(rng.randint(0, len(HINTS) - longest))
    return out


def token_columns(tokenizer: Tokenizer, prompts: list[str], targets: list[str]) -> dict[str, pa.Array]:
    """prompt / target text and token ids of any training examples (targets end with eos)."""
    p_vals, p_off = tokenizer.encode_many(prompts)
    t_vals, t_off = tokenizer.encode_many(targets)
    t_vals = np.insert(t_vals, t_off[1:], tokenizer.eos_id).astype(np.int32)
    t_off = (t_off + np.arange(len(t_off), dtype=np.int32)).astype(np.int32)
    return {"prompt": pa.array(prompts, pa.string()), "target": pa.array(targets, pa.string()),
            "prompt_ids": pa.ListArray.from_arrays(pa.array(p_off), pa.array(p_vals, pa.int32())),
            "target_ids": pa.ListArray.from_arrays(pa.array(t_off), pa.array(t_vals, pa.int32()))}


DataSpec = GridDataSpec | LengthDataSpec


def dataset_name(spec: DataSpec, tokenizer: Tokenizer | None = None) -> str:
    tokenizer = tokenizer or build_tokenizer(spec.tokenizer)
    return f"{spec.kind}-{spec.task.name}-{spec.format}-{stable_hash(spec.key(tokenizer))}"


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def load_dataset(spec: DataSpec, cache: str | Path | None = None,
                 tokenizer: Tokenizer | None = None) -> pa.Table:
    """The dataset's table, from the cache when it is there and intact, else built and cached."""
    tokenizer = tokenizer or build_tokenizer(spec.tokenizer)
    key = json.dumps(spec.key(tokenizer), sort_keys=True).encode()
    path = cache_dir(cache) / f"{dataset_name(spec, tokenizer)}.parquet"
    if path.exists():
        try:
            table = pq.read_table(path)
            if (table.schema.metadata or {}).get(SPEC_KEY) != key:
                warnings.warn(f"{path}: spec in the file does not match its name; rebuilding")
            elif not written_as_now(spec, table):
                warnings.warn(f"{path}: its rows' text is not what format {spec.format!r} writes now (a format "
                              "changed its text without a new version); rebuilding")
            else:
                return table
        except (OSError, pa.ArrowException) as err:
            warnings.warn(f"{path}: unreadable cached dataset ({err}); rebuilding")
    table = spec.build(tokenizer)
    table = table.replace_schema_metadata({SPEC_KEY: key})
    with writing(path, "the dataset cache (CASERAY_CACHE)"):
        write_parquet_atomic(table, path)
    return table


def written_as_now(spec: DataSpec, table: pa.Table, rows: int = 8) -> bool:
    """Whether the table's first test rows hold the text the spec's format writes today -- a guard for
    the cache: a table written before a format changed its text (without a new version in the key) is
    not served as if it were the new one."""
    task = build_task(spec.task)
    fmt = get_format(spec.format, task, options=spec.format_options)
    test = table.filter(pc.equal(table["split"], "test")).slice(0, rows).select(["a", "b", "prompt", "target"])
    return all(fmt.prompt(task, int(a), int(b)) == prompt and fmt.target(task, int(a), int(b)) == target
               for a, b, prompt, target in zip(*(test[c].to_pylist() for c in test.column_names)))


def dataset_path(spec: DataSpec, cache: str | Path | None = None) -> Path:
    return cache_dir(cache) / f"{dataset_name(spec)}.parquet"
