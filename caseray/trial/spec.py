"""The trial spec: one frozen, validated dataclass that fully decides a trial (and names it)."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, replace
from typing import Any

from caseray.core.errors import SpecError
from caseray.core.fields import check_fields, floats, ints, spec_field
from caseray.core.specs import from_dict, stable_hash, to_dict
from caseray.data.datasets import GridDataSpec, LengthDataSpec, LengthSpec
from caseray.data.formats import FORMATS, get_format
from caseray.data.formats.options import CARRIES_FORM, FormatOptions
from caseray.data.length_families import LEGACY
from caseray.data.places import PLACE_RULES
from caseray.data.regions import region_key, region_text
from caseray.data.splits import SplitSpec
from caseray.data.tasks import TaskSpec, build_task
from caseray.data.tokenizers import check_tokenizer, hf_digest, tokenizer_forms
from caseray.lema.spec import LemaSpec
from caseray.train.models import ModelSpec, checkpoint_digest
from caseray.train.positions import COUPLED_IDS, Positions
from caseray.train.runtime import Runtime
from caseray.train.spec import TrainSpec

DEVICES = ("cpu", "cuda", "auto")
# fields added after trials were first named, with the defaults that leave a trial's hash as it was
ADDED_LATER = {("train", "length_buckets"): 0, ("lengths",): None, ("lema",): None, ("lema", "quote_step"): True,
               ("format_options",): None, ("format_options", "carries"): False, ("model", "positions"): None,
               ("model", "coupled_ids"): COUPLED_IDS, ("model", "mark_ends"): False,
               ("model", "attention"): "softmax", ("init",): None, ("model", "number_embeddings"): "learned",
               ("lengths", "train_families"): list(LEGACY), ("lengths", "test_families"): list(LEGACY),
               ("lengths", "version"): 2, ("split", "hold"): [], ("split", "keep"): [], ("task", "offset"): None,
               ("eval", "curve_every"): 0}
# a stored spec (spec.json, a Tune config) written before a field existed meant this by its absence
# (where it differs from the field's default): length data version 2, equal lengths only
STORED_BEFORE = {("lengths", "test_families"): list(LEGACY), ("lengths", "version"): 2}


def stored_spec(data: dict) -> TrialSpec:
    """A ``TrialSpec`` read back from what a trial stored, old ones included: fields it predates take
    the value they meant then (``STORED_BEFORE``), so the spec keeps its name."""
    data = copy.deepcopy(data)
    for (*parents, key), value in STORED_BEFORE.items():
        node = _group(data, parents)
        if isinstance(node, dict) and key not in node:
            node[key] = value
    return from_dict(TrialSpec, data)


def _group(data: dict, parents) -> dict | None:
    """The nested mapping at ``parents`` of a spec's plain data; None where a group is unset."""
    node = data
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    return node


@dataclass(frozen=True)
class EvalSpec:
    greedy: bool = spec_field(True, "always on: exact_acc and answer_acc are greedy (one teacher-forced pass)")
    samples: int = spec_field(0, "N sampled completions per cell (the paper used 10 or 30); 0: none",
                              bounds=ints(0, 1000))
    temperature: float = spec_field(1.0, "sampling temperature", bounds=floats(0.0, 100.0, low_open=True))
    batch_size: int = spec_field(1024, "sequences per forward pass", bounds=ints(1))
    sample_seed: int = spec_field(0, "seeds the sampled completions", bounds=ints(0))
    curve_every: int = spec_field(0, "steps between points of the held-out curve (teacher-forced exact match on the "
                                  "test cells, a sample of training cells and the squares' centres, from step 0; "
                                  "curve.json, curve.png, MLflow's curve/*); 0: none", bounds=ints(0))

    def __post_init__(self):
        check_fields(self)
        if self.greedy is not True:
            raise SpecError("greedy", "exact_acc and answer_acc are greedy, one teacher-forced pass per cell; "
                            "sampled answers come in addition with samples >= 1", ["true"])


def check_curve(spec: TrialSpec, runtime: Runtime) -> None:
    """The held-out curve (``trial.curve``) reads whole weights on every rank: not where ZeRO-3
    partitions them (``runtime``: where the trial trains)."""
    if spec.eval.curve_every and runtime.backend == "deepspeed" and runtime.zero_stage == 3:
        raise SpecError("eval.curve_every", "the held-out curve reads whole weights on every rank; ZeRO stage 3 "
                        "partitions them", ["0 with ZeRO-3", "ZeRO stage 0-2"])


@dataclass(frozen=True)
class InitSpec:
    """Pretraining as an axis: the trial starts from another trial's trained model. (A trial-level
    field, not ``model.init``: the model's spec lives in the train layer, which cannot name a trial.)"""

    trial: Any = spec_field(doc="the pretraining trial's spec (as `caseray spec show trial`); it runs first, "
                            "once, its model saved", factory=dict)  # (Any: a help page must not recurse)

    def __post_init__(self):
        if not isinstance(self.trial, TrialSpec):
            object.__setattr__(self, "trial", from_dict(TrialSpec, self.trial, "trial"))
        if not self.trial.save_model:  # what the fine-tune starts from (save_model is not in the name)
            object.__setattr__(self, "trial", replace(self.trial, save_model=True))


# what a fine-tune and its pretraining agree on
MATCHED_MODEL = ("scale", "positions", "coupled_ids", "attention", "number_embeddings")


@dataclass(frozen=True)
class TrialSpec:
    task: TaskSpec = spec_field(doc="the arithmetic task and its operand grid", factory=TaskSpec)
    format: str = spec_field("direct", "how a solution is written", choices=FORMATS)
    split: SplitSpec = spec_field(doc="which grid cells are held out (a grid trial)", factory=SplitSpec)
    tokenizer: str = spec_field("number", "how text becomes tokens", forms=tokenizer_forms)
    data_size: int | None = spec_field(None, "subsample this many training cells (null: all; the test set is "
                                       "unchanged)", bounds=ints(1))
    model: ModelSpec = spec_field(doc="the model: scale or checkpoint, positions, LoRA", factory=ModelSpec)
    train: TrainSpec = spec_field(doc="optimizer, schedule, precision, checkpoints", factory=TrainSpec)
    eval: EvalSpec = spec_field(doc="how every cell is scored", factory=EvalSpec)
    seed: int = spec_field(0, "model init, data order and the data_size subsample", bounds=ints(0))
    device: str = spec_field("cpu", "where the trial trains (auto: cuda when there is one)", choices=DEVICES)
    threads: int = spec_field(1, "torch threads: match the CPUs the trial reserves", bounds=ints(1, 512))
    save_model: bool = spec_field(True, "write the final weights (safetensors) beside the results")
    lengths: LengthSpec | None = spec_field(None, "set: a length-generalization trial (n-digit problems), no "
                                            "grid split")
    lema: LemaSpec | None = spec_field(None, "set: learning from mistakes on top of this spec's CoT trial "
                                       "(caseray.lema)")
    format_options: FormatOptions | None = spec_field(None, "reverse / index_hints (caseray.data.formats.options)")
    init: InitSpec | None = spec_field(None, "set: start from another trial's trained model (pretraining as an "
                                       "axis); {trial: <its spec>}")

    def __post_init__(self):
        check_fields(self)
        object.__setattr__(self, "tokenizer", check_tokenizer(self.tokenizer))  # hf:<dir> made absolute
        if self.format_options is not None and self.format_options.plain:  # the same science, one name
            object.__setattr__(self, "format_options", None)
        if self.lengths is not None:
            if self.split != SplitSpec():
                raise SpecError("split", "a length trial (lengths set) has no grid split", ["leave split unset"])
            if self.data_size is not None:
                raise SpecError("data_size", "a length trial sizes its data with lengths.train_per_length",
                                ["null"])
        self.data_spec()  # validates task, format, split, tokenizer, data_size against the grid
        if self.lema is not None:
            if self.format_options is not None:
                raise SpecError("format_options", "LEMA's corrector writes plain answers", ["unset"])
            self.lema.check_format(self.format, self.task)
        self.model.check_positions(self.tokenizer, self.format, self.format_options, self.longest_place(),
                                   self.answer_format().place_rule)
        self.model.check_number_embeddings(self.tokenizer)
        if self.model.local_path and not self.tokenizer.startswith("hf:"):
            raise SpecError("tokenizer", f"model {self.model.scale!r} is a local checkpoint: use its own "
                            "tokenizer", f"hf:{self.model.local_path}")
        if self.init is not None:
            self._check_init()

    def _check_init(self) -> None:
        """A fine-tune's pretraining trial must build the same network with the same vocabulary."""
        pre = self.init.trial
        if pre.init is not None:
            raise SpecError("init.trial.init", "a pretraining trial starts from scratch (one level of init)",
                            ["null"])
        if self.lema is not None:
            raise SpecError("init", "a LEMA trial starts from its own CoT trial's weights", ["null"])
        if self.model.local_path:
            raise SpecError("init", f"model {self.model.scale!r} is a checkpoint already: its weights are the start",
                            ["null", "or a from-scratch scale"])
        if pre.tokenizer != self.tokenizer:
            raise SpecError("init.trial.tokenizer", f"{pre.tokenizer!r}, but this trial's tokenizer is "
                            f"{self.tokenizer!r}: the vocabularies must be one", [self.tokenizer])
        for key in MATCHED_MODEL:
            if getattr(pre.model, key) != getattr(self.model, key):
                raise SpecError(f"init.trial.model.{key}", f"{getattr(pre.model, key)!r}, but this trial's "
                                f"model.{key} is {getattr(self.model, key)!r}: the network must be the same",
                                [str(getattr(self.model, key))])

    def longest_place(self) -> int:
        """The most digits an answer of this trial can have (the highest digit place it writes)."""
        if self.lengths is not None:
            return max(self.lengths.test_digits[1], self.lengths.train_digits[1]) + 1
        return len(str(build_task(self.task).answer_bound())) + 1

    def answer_format(self):
        """The format as this trial writes it (its options applied): what reads answers back."""
        return get_format(self.format, options=self.format_options)

    def positions(self) -> Positions:
        """The model's position scheme; coupled offsets are sized by the training lengths only."""
        longest_train = self.lengths.train_digits[1] + 1 if self.lengths is not None else self.longest_place()
        rule = self.answer_format().place_rule
        return self.model.scheme(longest_train + PLACE_RULES[rule].extra_places, rule)

    def data_spec(self) -> GridDataSpec | LengthDataSpec:
        if self.lengths is not None:
            try:
                return LengthDataSpec(task=self.task, format=self.format, tokenizer=self.tokenizer, seed=self.seed,
                                      format_options=self.format_options, **asdict(self.lengths))
            except SpecError as err:
                field_name = err.field if err.field.split(".")[0] in ("task", "format", "tokenizer", "seed",
                                                                      "format_options") \
                    else f"lengths.{err.field}"
                raise SpecError(field_name, err.message, err.allowed) from None
        return GridDataSpec(task=self.task, format=self.format, split=self.split, tokenizer=self.tokenizer,
                            data_size=self.data_size, seed=self.seed, format_options=self.format_options)

    @property
    def hash(self) -> str:
        """Names the trial: everything that decides its results (placement and what is kept -- not)."""
        science = to_dict(self)
        del science["device"], science["threads"], science["save_model"]
        for path, default in ADDED_LATER.items():  # at their defaults, fields added later keep old names
            *parents, key = path
            node = _group(science, parents)
            if isinstance(node, dict) and node.get(key, default) == default:  # (a group unset: nothing to drop)
                node.pop(key, None)
        if self.model.local_path:  # what the folders hold, not where they lie: new weights, a new name
            science["model"]["scale"] = f"path:sha256:{checkpoint_digest(self.model.local_path)}"
        if self.tokenizer.startswith("hf:"):
            science["tokenizer"] = f"hf:sha256:{hf_digest(self.tokenizer[3:])}"
        if self.init is not None:  # the pretraining trial by its name: every spelling of it, one name
            science["init"] = {"trial": self.init.trial.name}
        if self.format_options is not None and self.format_options.carries:  # its form (its first: other names)
            science["carries_form"] = CARRIES_FORM
        if self.lema is not None:  # LEMA trials start from their CoT trial's initial weights since this
            science["lema_init"] = "cot"  # revision: older LEMA results, from other weights, keep other names
        return stable_hash(science)

    @property
    def name(self) -> str:
        tok = self.tokenizer.split(":")[0]
        kind = "length" if self.lengths is not None else self.split.kind
        if kind == "region":  # which region, at a glance (the hash holds it all)
            kind += "_" + region_key(self.split.hold, self.split.keep)
        kind += "-lema" if self.lema is not None else ""
        kind += "-init" if self.init is not None else ""
        return f"{self.task.name}-{self.format}-{tok}-{kind}-{self.hash}"

    def folder_records(self) -> dict:
        """What a read-back spec needs of the folders this trial names (``core.local_folders.remember``):
        the digests its name holds and a checkpoint's model family."""
        records = {}
        if self.model.local_path:
            records[self.model.scale] = {"digest": checkpoint_digest(self.model.local_path),
                                         "family": self.model.family}
        if self.tokenizer.startswith("hf:"):
            records[self.tokenizer] = {"digest": hf_digest(self.tokenizer[3:])}
        return records

    @property
    def format_label(self) -> str:
        """The format with the options turned on: ``direct+reverse+carries``."""
        opts = self.format_options
        return self.format + "".join(f"+{o}" for o in (opts.enabled if opts else ()))

    @property
    def label(self) -> str:
        """A readable name for people (MLflow's run name), ``addition·number·square·h7·s0``: what the
        usual sweeps vary, each part only when it is set. ``name`` stays the trial's id."""
        tok = self.tokenizer if not self.tokenizer.startswith("hf:") else "hf"
        parts = [self.task.name, self.format_label, tok]
        if self.lengths is not None:
            lo, hi = self.lengths.train_digits
            parts.append(f"len{lo}-{hi}")
        elif self.split.kind == "square":
            at = self.split.center
            parts += ["square", f"h{self.split.half_width}"] + ([f"@{at[0]},{at[1]}"] if at is not None else [])
        elif self.split.kind == "random":
            size = self.split.test_size
            parts.append("random" + (f"{size}" if size is not None else ""))
        elif self.split.kind == "region":
            parts.append("region:" + region_text(self.split.hold, self.split.keep))
        else:
            parts.append(self.split.kind)
        parts += [f"n{self.data_size}"] if self.data_size is not None else []
        parts.append(self.model.scale if self.model.local_path is None else "path")
        parts += [self.model.positions] if self.model.positions else []
        parts += [self.model.attention] if self.model.attention != "softmax" else []
        parts += ["ends"] if self.model.mark_ends else []
        parts += [f"{self.model.number_embeddings}-numbers"] if self.model.number_embeddings != "learned" else []
        parts += [f"lema:{self.lema.mistake_source}"] if self.lema is not None else []
        parts += [f"init:{self.init.trial.task.name}·{self.init.trial.hash[:6]}"] if self.init is not None else []
        return "·".join(parts + [f"s{self.seed}"])

    def to_dict(self) -> dict:
        return to_dict(self)
