"""Tokenizers, named by a spec string (a first-class sweep axis):

- ``number`` / ``number:<bound>``: every integer 0..bound is one token (GPT-2's BPE does this for
  0..198, the default bound); longer or zero-padded digit runs and all other characters are one
  token per character.
- ``number_roles`` / ``number_roles:<bound>``: ``number`` with operand roles: the second digit run of
  every line (the second operand of ``12+34=``, ``(12,34)=``, a scratchpad line ``4+3,...``) takes
  ids of its own, ``bound + 1`` more of them after ``number``'s -- b = 34 and a = 34 are different
  tokens; every other run, answers included, keeps ``number``'s ids (which are unchanged). A
  second run not spelled as one number (longer than the bound, or zero-padded) takes its digits'
  role ids one by one. Decoding gives back the same text. It has no Hugging Face copy (a
  pre-tokenizer cannot see which run of a line a number is): ``save_hf`` writes nothing for it, and
  a trial's ``model/`` holds the weights alone; caseray's ``tokenizer/`` folder loads it.
- ``digit``: one token per character.
- ``digit_roles``: ``digit`` with operand roles: every digit of a line's second digit run takes an id of
  its own (10 more after ``digit``'s, which are unchanged), so a's 7 and b's 7 are different tokens and
  every other run, answers included, keeps ``digit``'s ids. Still one token per character (coupled ids
  read places off the text). Why: under coupled ids both operands' digits of one place share an id, so
  with ``digit`` two equal digits are one and the same key and value there -- where a model trained on
  1-5 digits fails at 50, it fails at a place whose two digits are equal (docs/FINDINGS.md, "The two
  digits of a place"). No Hugging Face copy, as ``number_roles``.
- ``hf:<local dir>``: a Hugging Face tokenizer saved on disk (never downloaded).

``save(dir)`` writes the tokenizer beside a model; ``load_tokenizer(dir)`` gives back an identical one.
It also writes a Hugging Face tokenizer (``save_hf``: ``tokenizer.json`` + ``tokenizer_config.json``),
which a trial saves into ``model/`` too, so ``AutoTokenizer`` / ``AutoModelForCausalLM`` /
``pipeline("text-generation")`` load a trained trial from that one folder without caseray. For
``number`` / ``digit`` it is a fast tokenizer over the same vocabulary with the same ids: a WordLevel
model, one ``Split`` pre-tokenizer (a whole digit run spelling 0..bound without a leading zero, else
one character: ``hf_split_pattern``), a decoder that joins pieces with nothing between them, a
post-processor that puts ``<bos>`` first -- ``tok(prompt)`` gives exactly the ``[bos] + prompt``
caseray feeds the model -- and ``<pad>`` / ``<bos>`` / ``<eos>`` as its special tokens (literal
``"<eos>"`` text is spelled out character by character, as caseray does; padding on the left, for
batched ``generate()``; its class written as ``PreTrainedTokenizerFast``, which transformers 4 and 5
both load). caseray itself keeps encoding with its own vectorised encoder (exact, and
fast on whole grids); the Hugging Face copy is for interoperability (``tests/test_tokenizers.py``
checks the two agree). An ``hf:`` tokenizer is saved as it was loaded; caseray feeds it
``[bos_id] + tok(prompt, add_special_tokens=False)``, which ``tok(prompt)`` is only where the
tokenizer itself adds that bos.

Limitation: Hugging Face alone reproduces a trained model's greedy answers only for the position
schemes a model computes for itself (``learned`` GPT-2 positions, ``rope``). ``nope`` and ``coupled``
models need the ``position_ids`` caseray hands them at every step (zeros; digit places:
``caseray.train.evaluate.decode_with_positions``), which ``generate()`` and pipelines do not pass.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from caseray.core.digests import folder_digest
from caseray.core.errors import SpecError, did_you_mean
from caseray.core.local_folders import loading, recorded, refuse_code, resolve_folder
from caseray.core.registry import Registry
from caseray.core.specs import short

TOKENIZERS: Registry[type["Tokenizer"]] = Registry("tokenizer")
SPECIALS = ("<pad>", "<bos>", "<eos>")
CHARS = ("\n",) + tuple(chr(c) for c in range(32, 127))
META_FILE = "caseray_tokenizer.json"


class Tokenizer:
    spec = ""
    pad_id = bos_id = eos_id = 0
    vocab_size = 0

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids) -> str:
        """Text of ``ids``, special tokens dropped."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """What identifies this tokenizer's behaviour in dataset hashes."""
        return self.spec

    def line_end_ids(self) -> list[int]:
        """The tokens that end a line (whose text holds a newline): step boundaries in a target.
        Found once per tokenizer (decoding a 32k vocabulary takes about a second)."""
        if getattr(self, "_line_ends", None) is None:
            self._line_ends = [i for i in range(self.vocab_size) if "\n" in self.decode([i])]
        return self._line_ends

    def save(self, directory: str | Path) -> None:
        raise NotImplementedError

    def save_hf(self, directory: str | Path) -> None:
        """Only the Hugging Face tokenizer files (``AutoTokenizer.from_pretrained`` reads them), e.g.
        into a model's folder; no caseray file."""
        raise NotImplementedError

    def encode_many(self, texts) -> tuple[np.ndarray, np.ndarray]:
        """Flat int32 token ids and int32 offsets (len(texts) + 1) for many texts."""
        lists = [self.encode(t) for t in texts]
        offsets = np.zeros(len(lists) + 1, dtype=np.int32)
        np.cumsum([len(x) for x in lists], out=offsets[1:])
        values = np.fromiter((i for x in lists for i in x), dtype=np.int32, count=int(offsets[-1]))
        return values, offsets


class CharTokenizer(Tokenizer):
    """One token per character (``digit``), optionally whole numbers up to ``bound`` (``number``), and
    with ``roles`` the second number of a line in ids of its own (``number_roles``; ``digit_roles``:
    its digits one by one)."""

    version = 1

    def __init__(self, bound: int | None = None, roles: bool = False):
        self.bound, self.roles = bound, roles
        self.vocab = list(SPECIALS) + list(CHARS)  # token names (unique); ``texts``: what each decodes to
        if bound is not None:
            self.vocab += [str(n) for n in range(10, bound + 1)]
        self.texts = list(self.vocab)
        top = 9 if bound is None else bound  # the largest number a role id stands for
        if roles:
            self.vocab += [f"<b:{n}>" for n in range(top + 1)]
            self.texts += [str(n) for n in range(top + 1)]
        self.spec = (f"digit{'_roles' if roles else ''}" if bound is None else
                     f"number_roles:{bound}" if roles else f"number:{bound}")
        self.ids = {tok: i for i, tok in enumerate(self.vocab)}
        self.pad_id, self.bos_id, self.eos_id = 0, 1, 2
        self.vocab_size = len(self.vocab)
        self._byte_ids = np.full(256, -1, dtype=np.int32)  # byte -> char token (-1: not in vocab)
        for ch in CHARS:
            self._byte_ids[ord(ch)] = self.ids[ch]
        self._max_digits = 1 if bound is None else len(str(bound))
        if bound is not None:
            self._number_ids = np.array([self.ids[str(n)] for n in range(bound + 1)], dtype=np.int32)
        if roles:
            self._role_ids = np.array([self.ids[f"<b:{n}>"] for n in range(top + 1)], dtype=np.int32)

    def encode(self, text: str) -> list[int]:
        return self.encode_many([text])[0].tolist()

    def encode_many(self, texts):
        """Vectorised over all texts at once: texts are joined with NUL separators, mapped byte by
        byte, and (``number``) each digit run that spells an integer <= bound collapses to one token."""
        if not texts:
            return np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int32)
        joined = "\0".join(texts) + "\0"
        if joined.count("\0") != len(texts) or not joined.isascii():
            bad = next(ch for ch in joined.replace("\0", "", len(texts)) if ord(ch) >= 128 or ch not in self.ids)
            raise ValueError(f"character {bad!r} is not in the {self.spec} tokenizer's vocabulary")
        buf = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
        sep = buf == 0
        ids = self._byte_ids[buf]
        unknown = (ids < 0) & ~sep
        if unknown.any():
            bad = chr(buf[np.flatnonzero(unknown)[0]])
            raise ValueError(f"character {bad!r} is not in the {self.spec} tokenizer's vocabulary")
        keep = ~sep
        if self.bound is not None or self.roles:
            starts, ends, ok, value = self._numbers(buf)
            if ok.any():
                ids[starts[ok]] = self._number_ids[value[ok]]
            if self.roles:
                self._role_runs(buf, sep, ids, starts, ends, ok, value)
            lengths = ends - starts
            for k in range(1, self._max_digits):  # drop the rest of each collapsed run
                keep[starts[ok & (lengths > k)] + k] = False
        text_of = np.cumsum(sep) - sep
        counts = np.bincount(text_of[keep], minlength=len(texts))
        offsets = np.zeros(len(texts) + 1, dtype=np.int32)
        np.cumsum(counts, out=offsets[1:])
        return ids[keep], offsets

    def _numbers(self, buf):
        """Every digit run's start and end, whether it collapses to one whole-number token (never
        without a bound) and the number it spells then."""
        digit = (buf >= ord("0")) & (buf <= ord("9"))  # separators end every run
        starts = np.flatnonzero(digit[1:] & ~digit[:-1]) + 1  # buf[0] may start a run
        starts = np.concatenate([[0], starts]) if digit[0] else starts
        ends = np.flatnonzero(digit[:-1] & ~digit[1:]) + 1  # the last byte is a separator
        lengths = ends - starts
        value = np.zeros(len(starts), dtype=np.int64)
        if self.bound is None:
            return starts, ends, np.zeros(len(starts), dtype=bool), value
        ok = (lengths <= self._max_digits) & ((lengths == 1) | (buf[starts] != ord("0")))
        for k in range(self._max_digits):
            m = ok & (lengths > k)
            value[m] = value[m] * 10 + (buf[starts[m] + k] - ord("0"))
        return starts, ends, ok & (value <= self.bound), value

    def _role_runs(self, buf, sep, ids, starts, ends, ok, value) -> None:
        """Give the second digit run of every line (texts and newlines end lines) its role ids: the
        run's number when it collapses, else each of its digits."""
        if not len(starts):
            return
        line = np.cumsum(sep | (buf == ord("\n")))[starts]  # runs never start on a line end
        index = np.arange(len(starts))
        first = np.maximum.accumulate(np.where(np.r_[True, line[1:] != line[:-1]], index, 0))
        second = index - first == 1
        ids[starts[second & ok]] = self._role_ids[value[second & ok]]
        spelled = np.zeros(len(buf) + 1, dtype=np.int32)  # the bytes of second runs spelled digit by digit
        np.add.at(spelled, starts[second & ~ok], 1)
        np.add.at(spelled, ends[second & ~ok], -1)
        digits = np.cumsum(spelled[:-1]) > 0
        ids[digits] = self._role_ids[buf[digits] - ord("0")]

    def decode(self, ids) -> str:
        texts, n = self.texts, len(SPECIALS)
        return "".join(texts[int(i)] for i in ids if n <= int(i) < len(texts))

    def fingerprint(self) -> str:
        return f"{self.spec}/v{self.version}"

    def save(self, directory):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.save_hf(directory)
        meta = {"kind": "char", "spec": self.spec, "bound": self.bound, "vocab": self.vocab}
        if self.roles:  # (absent before roles existed: a saved number / digit tokenizer reads as it did)
            meta["roles"] = True
        (directory / META_FILE).write_text(json.dumps(meta))

    def hf_tokenizer(self):
        """This tokenizer as a Hugging Face fast tokenizer: the same ids for every text, ``<bos>`` put
        first (see the module docstring); ``number_roles`` and ``digit_roles`` have none."""
        if self.roles:
            raise NotImplementedError(f"{self.spec} has no Hugging Face copy: a pre-tokenizer cannot see "
                                      "which run of a line a number is")
        from tokenizers import Regex, decoders, models, pre_tokenizers, processors
        from tokenizers import Tokenizer as Core
        from transformers import PreTrainedTokenizerFast

        core = Core(models.WordLevel(dict(self.ids), unk_token="<unk>"))  # no <unk>: an unknown character fails
        core.pre_tokenizer = pre_tokenizers.Split(Regex(hf_split_pattern(self.bound)), behavior="isolated")
        core.decoder = decoders.Fuse()
        bos = SPECIALS[self.bos_id]
        core.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A $B:1",
                                                            special_tokens=[(bos, self.bos_id)])
        return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=SPECIALS[self.pad_id], bos_token=bos,
                                       eos_token=SPECIALS[self.eos_id], padding_side="left",
                                       clean_up_tokenization_spaces=False, split_special_tokens=True)

    def save_hf(self, directory):
        if self.roles:  # no Hugging Face copy (see the module docstring): caseray's own files load it
            return
        directory = Path(directory)
        self.hf_tokenizer().save_pretrained(directory)
        # transformers 5 writes its class as TokenizersBackend, which transformers 4 cannot load; both load this
        config = json.loads((directory / "tokenizer_config.json").read_text())
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
        (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")


def number_pattern(bound: int) -> str:
    """A regex for the numerals of 0..``bound`` without a leading zero, as a few ranges (numbers with
    fewer digits, then each prefix of ``bound`` followed by a smaller digit and any digits), e.g.
    198: ``[0-9]|[1-9][0-9]|1[0-8][0-9]|19[0-7]|198``."""
    text = str(bound)
    if len(text) == 1:
        return f"[0-{text}]"

    def digits(n):
        return "" if n == 0 else "[0-9]" if n == 1 else f"[0-9]{{{n}}}"

    parts = ["[0-9]"] + [f"[1-9]{digits(n - 1)}" for n in range(2, len(text))]
    for i, top in enumerate(text):
        low, high = (1 if i == 0 else 0), int(top) - 1
        if high >= low:
            parts.append(text[:i] + (str(low) if high == low else f"[{low}-{high}]") + digits(len(text) - i - 1))
    return "|".join(parts + [text])


def hf_split_pattern(bound: int | None) -> str:
    """The Hugging Face pre-tokenizer's pieces (``Split``, isolated): a whole digit run (no digit
    before or after it) spelling a number <= ``bound``, else any one character (newline included)."""
    number = "" if bound is None else f"(?<![0-9])(?:{number_pattern(bound)})(?![0-9])|"
    return number + r"[\s\S]"


@TOKENIZERS.register("digit")
def _digit(arg: str | None) -> Tokenizer:
    if arg:
        raise SpecError("tokenizer", f"'digit' takes no argument, got 'digit:{arg}'")
    return CharTokenizer(None)


@TOKENIZERS.register("digit_roles")
def _digit_roles(arg: str | None) -> Tokenizer:
    if arg:
        raise SpecError("tokenizer", f"'digit_roles' takes no argument, got 'digit_roles:{arg}'")
    return CharTokenizer(None, roles=True)


ONE_PER_CHARACTER = ("digit", "digit_roles")  # tokenizers with one token per character
ROLES = ("number_roles", "digit_roles")  # tokenizers that give a line's second number ids of its own


def _bound(name: str, arg: str | None) -> int:
    if not arg:
        return 198
    if not (arg.isascii() and arg.isdecimal() and len(arg) <= 7) or not 9 <= int(arg) <= 1_000_000:
        raise SpecError("tokenizer", f"bad bound in '{name}:{arg}'", f"an integer 9..1000000, e.g. {name}:198")
    return int(arg)


@TOKENIZERS.register("number")
def _number(arg: str | None) -> Tokenizer:
    return CharTokenizer(_bound("number", arg))


@TOKENIZERS.register("number_roles")
def _number_roles(arg: str | None) -> Tokenizer:
    return CharTokenizer(_bound("number_roles", arg), roles=True)


class HFTokenizer(Tokenizer):
    """A local Hugging Face tokenizer directory (loaded with local_files_only)."""

    def __init__(self, path: str):
        from transformers import AutoTokenizer

        self.path = str(path)
        self.spec = f"hf:{self.path}"
        with loading(self.path, "a tokenizer", "tokenizer", HF_ALLOWED):
            self.tok = AutoTokenizer.from_pretrained(self.path, local_files_only=True, trust_remote_code=False)
        eos = self.tok.eos_token_id
        if eos is None:
            raise SpecError("tokenizer", f"the tokenizer at {self.path} has no eos token")
        self.eos_id = eos
        self.pad_id = self.tok.pad_token_id if self.tok.pad_token_id is not None else eos
        self.bos_id = self.tok.bos_token_id if self.tok.bos_token_id is not None else eos
        self.vocab_size = len(self.tok)

    def encode(self, text):
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids):
        return self.tok.decode([int(i) for i in ids], skip_special_tokens=True,
                               clean_up_tokenization_spaces=False)

    def fingerprint(self):
        """A digest of the tokenizer's behaviour (its full definition where it is a fast tokenizer)."""
        backend = getattr(self.tok, "backend_tokenizer", None)
        text = backend.to_str() if backend is not None else json.dumps(sorted(self.tok.get_vocab().items()))
        text += json.dumps([self.eos_id, self.pad_id, self.bos_id])
        return f"hf:{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    def save(self, directory):
        directory = Path(directory)
        self.save_hf(directory)
        (directory / META_FILE).write_text(json.dumps({"kind": "hf", "spec": self.spec}))

    def save_hf(self, directory):
        self.tok.save_pretrained(Path(directory))


HF_ALLOWED = "hf:<a local folder saved with save_pretrained>"
HF_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
            "vocab.json", "merges.txt", "vocab.txt", "tokenizer.model", "spiece.model", "config.json")


def check_hf_dir(arg: str | None) -> Path:
    """A local Hugging Face tokenizer folder, absolute; refused if it names code of its own."""
    if not arg:
        raise SpecError("tokenizer", "'hf' needs a local directory: hf:/path/to/tokenizer", HF_ALLOWED)
    path = resolve_folder(arg, "tokenizer", "tokenizer", HF_ALLOWED)
    if not any((path / name).is_file() for name in HF_FILES):
        raise SpecError("tokenizer", f"{short(str(path))} holds no tokenizer files", list(HF_FILES[:3]))
    refuse_code(path, ("tokenizer_config.json", "config.json"), "tokenizer")
    return path


def hf_digest(path: str | Path) -> str:
    """What a trial's name holds for an ``hf:`` tokenizer: its files' content, not where they lie."""
    record = recorded("hf", path)
    return record["digest"] if record else folder_digest(path, HF_FILES)


def normalize_spec(spec: str, field: str = "tokenizer") -> str:
    """The spec as trials carry it: ``hf:<dir>`` with the folder made absolute (checked), others as given."""
    name, arg = split_spec(spec, field)
    if name != "hf" or recorded("hf", arg):  # (read back from results: its folder is elsewhere)
        return spec
    try:
        return f"hf:{check_hf_dir(arg)}"
    except SpecError as err:
        raise SpecError(field, err.message, err.allowed) from None


@TOKENIZERS.register("hf")
def _hf(arg: str | None) -> Tokenizer:
    return HFTokenizer(str(check_hf_dir(arg)))


def tokenizer_forms() -> list[str]:
    """What a tokenizer field takes: the registered names, ``number`` with a bound, a local HF folder."""
    return [n for n in TOKENIZERS.names() if n != "hf"] + ["number:<bound>", "number_roles:<bound>",
                                                           "hf:<local dir>"]


def split_spec(spec: str, field: str = "tokenizer") -> tuple[str, str | None]:
    if not isinstance(spec, str) or not spec:
        raise SpecError(field, f"expected a tokenizer name, got {short(spec)}", tokenizer_forms())
    name, _, arg = spec.partition(":")
    if name not in TOKENIZERS:
        raise SpecError(field, f"unknown tokenizer {short(name)}{did_you_mean(name, TOKENIZERS.names())}",
                        tokenizer_forms())
    return name, arg or None


def build_tokenizer(spec: str, field: str = "tokenizer") -> Tokenizer:
    name, arg = split_spec(spec, field)
    try:
        return TOKENIZERS.get(name, field)(arg)
    except SpecError as err:
        raise SpecError(field, err.message, err.allowed) from None


def check_tokenizer(spec: str, field: str = "tokenizer") -> str:
    """Validate a tokenizer spec cheaply (a local HF tokenizer's folder is checked, not loaded); the
    spec as trials carry it (``normalize_spec``)."""
    if split_spec(spec, field)[0] == "hf":
        return normalize_spec(spec, field)
    build_tokenizer(spec, field)
    return spec


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """Load a tokenizer written by ``save``."""
    directory = Path(directory)
    meta = json.loads((directory / META_FILE).read_text())
    if meta["kind"] == "hf":
        return HFTokenizer(str(directory))
    tok = CharTokenizer(meta["bound"], roles=meta.get("roles", False))
    if tok.vocab != meta["vocab"]:
        raise ValueError(f"{directory}: saved vocabulary differs from this caseray's {tok.spec} tokenizer")
    return tok
