"""Model scales (a registry of from-scratch configs, random init) and local checkpoints.

- GPT-2 family (learned absolute positions): ``tiny`` (~0.45M parameters), ``small`` (~3M),
  ``base`` (~11M), ``gpt2-124m`` and ``gpt2-355m`` (GPT-2's own sizes).
- Llama family (RoPE, relative positions, for length generalization): ``llama-tiny`` (~0.6M),
  ``llama-small`` (~3.5M).
- ``path:<dir>``: a local Hugging Face checkpoint (never downloaded), with its tokenizer.

LoRA (peft) is an option on any of them. ``number_embeddings``: the whole-number tokens' input rows
learned or fixed to a known geometry (``caseray.train.number_embeddings``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from caseray.core.digests import folder_digest, weights_digest
from caseray.core.errors import SpecError, did_you_mean
from caseray.core.fields import allowed, check_fields, floats, ints, spec_field
from caseray.core.local_folders import loading, recorded, refuse_code, resolve_folder
from caseray.core.registry import Registry
from caseray.core.specs import short
from caseray.data.places import MARKABLE, MARKED, PLACE_RULES
from caseray.data.tokenizers import ONE_PER_CHARACTER
from caseray.train.attention import ALIBI_OVER, bias_ids, restore_attention, scale_attention
from caseray.train.number_embeddings import NUMBER_EMBEDDINGS, check_width, fix_number_rows
from caseray.train.positions import COUPLED, COUPLED_IDS, FAMILY_DEFAULT, POSITIONS, SPREAD, Positions

SCALES: Registry[dict] = Registry("model scale")

for name, cfg in {
    "tiny": dict(n_embd=128, n_layer=2, n_head=4),
    "small": dict(n_embd=256, n_layer=4, n_head=4),
    "base": dict(n_embd=384, n_layer=6, n_head=6),
    "gpt2-124m": dict(n_embd=768, n_layer=12, n_head=12),
    "gpt2-355m": dict(n_embd=1024, n_layer=24, n_head=16),
}.items():
    SCALES.register(name)({"family": "gpt2", **cfg})
for name, cfg in {
    "llama-tiny": dict(hidden_size=128, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4),
    "llama-small": dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4),
}.items():
    SCALES.register(name)({"family": "llama", **cfg})

ATTENTION = ("softmax", "logn", "logn_train", "id_alibi", "place_alibi")
LOGN_TRAIN_BASE = 2  # logn_train: log2(n), so the scaling acts on every row of two or more keys
DEFAULT_LORA_TARGETS = {"gpt2": ("c_attn",), "llama": ("q_proj", "v_proj")}
LINEAR_MODULES = {"gpt2": ("c_attn", "c_proj", "c_fc"),  # what LoRA can adapt in the shipped scales
                  "llama": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")}
CHECKPOINT_CONFIGS = ("config.json", "generation_config.json")
PATH_ALLOWED = "a scale name or path:<local Hugging Face checkpoint folder>"


def check_checkpoint(text: str) -> Path:
    """A local checkpoint folder: absolute, with a config.json and safetensors weights, no code of its own."""
    if recorded("path", text):  # a spec read back from results: the checkpoint is elsewhere
        return Path(text)
    path = resolve_folder(text, "scale", "checkpoint", PATH_ALLOWED)
    if not (path / "config.json").is_file():
        raise SpecError("scale", f"no Hugging Face checkpoint (config.json) at {short(str(path))}; caseray never "
                        "downloads weights", PATH_ALLOWED)
    refuse_code(path, CHECKPOINT_CONFIGS, "scale")
    config = json.loads((path / "config.json").read_text())
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        raise SpecError("scale", f"{path / 'config.json'} names no model_type", PATH_ALLOWED)
    if not any(path.glob("*.safetensors")):
        raise SpecError("scale", f"no *.safetensors weights in {short(str(path))} (caseray loads safetensors "
                        "only, never pickles)", PATH_ALLOWED)
    return path


def checkpoint_digest(path: str | Path) -> str:
    """What the trial's name holds for a local checkpoint: its config and weights, not where it lies."""
    record = recorded("path", path)
    return record["digest"] if record else f"{folder_digest(path, CHECKPOINT_CONFIGS)}-{weights_digest(path)}"


@dataclass(frozen=True)
class LoraSpec:
    rank: int = spec_field(8, "LoRA rank r", bounds=ints(1))
    alpha: int = spec_field(16, "LoRA scaling alpha (the update is scaled by alpha / r)", bounds=ints(1))
    dropout: float = spec_field(0.05, "dropout on the LoRA path", bounds=floats(0.0, 1.0))
    target_modules: tuple[str, ...] = spec_field((), "layers to adapt; empty: the family's usual (GPT-2 c_attn; "
                                                 "Llama q_proj, v_proj)")

    def __post_init__(self):
        check_fields(self)


@dataclass(frozen=True)
class ModelSpec:
    scale: str = spec_field("tiny", "a registered scale (from scratch, random init) or a local checkpoint",
                            forms=lambda: [*SCALES.names(), "path:<local checkpoint dir>"])
    dropout: float = spec_field(0.0, "dropout in the model's layers", bounds=floats(0.0, 1.0))
    lora: LoraSpec | None = spec_field(None, "set: train LoRA adapters (peft) instead of every weight")
    positions: str | None = spec_field(None, "how tokens get positions (caseray.train.positions); null: the "
                                       "family's own", choices=POSITIONS)
    coupled_ids: int = spec_field(COUPLED_IDS, "coupled positions: ids 0..coupled_ids - 1 (a test place needs "
                                  "its own id)", bounds=ints(8, 4096))
    attention: str = spec_field("softmax", "softmax; logn: a query seeing more keys than the longest training row "
                                "has its logits scaled by log(n) / log(longest), at test time only; logn_train: "
                                "scaled by log2(n) in training and test alike; id_alibi (coupled ids): each head's "
                                "logits minus slope * |id(query) - id(key)|, slopes 1, 1/4, 1/16, 1/64 at 4 heads; "
                                "place_alibi: the same over the distance between places (the ids' ranks in their "
                                "row; measured far worse, docs/FINDINGS.md) (caseray.train.attention)",
                                choices=ATTENTION)
    mark_ends: bool = spec_field(False, "coupled ids: the prompt's operator (+) takes the place of the longest "
                                 "operand's top digit and bos the place past it, so the answer's last places "
                                 "know at their own ids that they are the last (caseray.data.places.EndsMarked); "
                                 "not for a column trace")
    number_embeddings: str = spec_field("learned", "learned: trained like every row; linear / fourier: the input "
                                        "rows of the whole numbers 0..bound (number / number_roles tokenizer) "
                                        "fixed to a known geometry, a line or Fourier features at periods 2, 5, "
                                        "10, 100 plus a line, and kept fixed in training; GPT-2 ties its output "
                                        "embedding to them (the numbers' output rows fixed too), Llama does not "
                                        "(caseray.train.number_embeddings)", choices=NUMBER_EMBEDDINGS)

    def __post_init__(self):
        if not isinstance(self.scale, str):
            raise SpecError("scale", f"expected a scale name, got {short(self.scale)}", allowed(ModelSpec, "scale"))
        if self.scale.startswith("path:"):  # absolute from here on: trials run in other directories
            object.__setattr__(self, "scale", f"path:{check_checkpoint(self.scale[5:])}")
        elif self.scale not in SCALES:
            raise SpecError("scale", f"unknown model scale {short(self.scale)}"
                            f"{did_you_mean(self.scale, SCALES.names())}", allowed(ModelSpec, "scale"))
        check_fields(self)
        if self.lora is not None and self.lora.target_modules and not self.local_path:
            unknown = set(self.lora.target_modules) - set(LINEAR_MODULES[self.family])
            if unknown:
                raise SpecError("lora.target_modules", f"{sorted(unknown)} are not layers of a {self.family} "
                                f"scale", LINEAR_MODULES[self.family])
        if self.coupled_ids != COUPLED_IDS and self.position_kind not in COUPLED:
            raise SpecError("coupled_ids", f"{self.coupled_ids} is an id range of coupled positions, but "
                            f"{self.scale!r} uses {self.position_kind!r}", ["64", "or positions: coupled_random"])
        if self.attention != "softmax" and self.family != "llama":
            raise SpecError("attention", f"{self.attention} attention is written for Llama's attention; "
                            f"{self.scale!r} is a {self.family} model", ["softmax", "or a Llama scale"])
        if self.mark_ends and self.position_kind not in COUPLED:
            raise SpecError("mark_ends", f"marks a place of coupled ids, but {self.scale!r} uses "
                            f"{self.position_kind!r} positions", ["false", "or positions: coupled_random"])
        if self.attention in ALIBI_OVER and self.position_kind not in COUPLED:
            raise SpecError("attention", f"{self.attention} biases attention by the distance between coupled ids, but "
                            f"{self.scale!r} uses {self.position_kind!r} positions", ["softmax", "logn", "logn_train",
                                                                                      "or positions: coupled_random"])
        if self.positions is not None:
            native = FAMILY_DEFAULT[self.family]
            if self.positions in FAMILY_DEFAULT.values() and self.positions != native:
                raise SpecError("positions", f"{self.scale!r} is a {self.family} model, whose positions are "
                                f"{native!r}; {self.positions!r} needs a "
                                f"{'GPT-2' if self.positions == 'learned' else 'Llama'} scale",
                                [native, "nope", *COUPLED])
        self._check_fixed_numbers()

    def _check_fixed_numbers(self) -> None:
        """Fixed number rows replace a from-scratch init; what a checkpoint or LoRA would do to them is
        not the question (the tokenizer is checked at the trial: ``check_number_embeddings``)."""
        if self.number_embeddings == "learned":
            return
        if self.local_path:
            raise SpecError("number_embeddings", f"{self.scale!r} is a checkpoint: its number embeddings are "
                            "pretrained (and its tokenizer its own); fixed rows are for from-scratch scales",
                            ["learned", "or a from-scratch scale"])
        if self.lora is not None:
            raise SpecError("number_embeddings", "LoRA freezes every base weight, the embedding included: no "
                            "number geometry is learned there to compare a fixed one with", ["learned",
                                                                                          "or lora: null"])

    def check_number_embeddings(self, tokenizer: str, field: str = "model.number_embeddings") -> None:
        """Fixed number rows need one token per whole number (``number`` / ``number_roles``) and a
        hidden size that holds their orthonormal directions."""
        if self.number_embeddings == "learned":
            return
        kind = tokenizer.split(":")[0]
        if kind not in ("number", "number_roles"):
            raise SpecError(field, f"{self.number_embeddings} number embeddings fix the rows of whole-number "
                            f"tokens; tokenizer {tokenizer!r} has none", ["learned", "tokenizer: number or "
                                                                         "number_roles"])
        cfg = SCALES.get(self.scale)
        check_width(self.number_embeddings, kind == "number_roles", cfg.get("n_embd", cfg.get("hidden_size")))

    @property
    def family(self) -> str:
        """``gpt2`` or ``llama`` (a local checkpoint: read from its config.json)."""
        if self.local_path:
            record = recorded("path", self.local_path)
            if record:
                return record["family"]
            kind = json.loads((Path(self.local_path) / "config.json").read_text()).get("model_type", "")
            return "llama" if "llama" in kind else "gpt2"
        return SCALES.get(self.scale)["family"]

    @property
    def position_kind(self) -> str:
        return self.positions or FAMILY_DEFAULT[self.family]

    def check_positions(self, tokenizer: str, format_name: str, options, longest_place: int,
                        rule: str = "answer") -> None:
        """Coupled ids are digit places: one token per character, and an output whose digits' places
        are known as they are written (a direct answer written least-significant first, or a column
        trace, which also needs RoPE: its ids are place * levels + role, past a learned table)."""
        if self.position_kind not in COUPLED:
            return
        reverse = options is not None and options.reverse
        if tokenizer not in ONE_PER_CHARACTER:
            raise SpecError("model.positions", "coupled ids are digit places: they need one token per "
                            f"character, not tokenizer {tokenizer!r}", [f"tokenizer: {t}" for t in ONE_PER_CHARACTER])
        columns = rule == "columns"  # (the format's place rule: caseray.data.places.PLACE_RULES)
        if not columns and (format_name != "direct" or not reverse or options.index_hints):
            raise SpecError("model.positions", "coupled ids need a direct answer written least-significant "
                            "first (a digit's place must be known when it is written), without index hints",
                            ["format: direct with format_options.reverse: true", "format: rule_following_columns"])
        if self.mark_ends and rule not in MARKABLE:
            raise SpecError("model.mark_ends", f"marks the operator of a prompt of two numbers; a {rule!r} rule's "
                            "places have their own layout", ["false", "or format: direct"])
        if self.attention == "place_alibi" and PLACE_RULES[rule].levels > 1:  # (ranks over the whole row)
            raise SpecError("model.attention", f"place_alibi ranks a row's ids, and a {rule!r} trace writes ids "
                            "its prompt does not hold (a decoder could not rank them)", ["id_alibi", "softmax"])
        if columns and self.family != "llama":
            raise SpecError("model.scale", f"a column trace's coupled ids need RoPE; {self.scale!r} is a "
                            f"{self.family} model", [n for n in SCALES.names() if SCALES.get(n)["family"] == "llama"])
        # the spread kinds put places 1..longest on ids 1..coupled_ids - 1: one id each needs a spare
        # (a column trace's last line names one place past the answer)
        need = longest_place + PLACE_RULES[rule].extra_places + (2 if self.position_kind in SPREAD else 1)
        if need > self.coupled_ids:
            raise SpecError("model.coupled_ids", f"coupled ids go up to {self.coupled_ids - 1}; places up to "
                            f"{longest_place} are asked for", f">= {need}")

    def scheme(self, longest_train_place: int = 0, rule: str = "answer") -> Positions:
        """The trial's position scheme; coupled offsets keep the longest training place within the ids;
        ``rule``: how its format's text gets places (``caseray.data.places.PLACE_RULES``)."""
        if self.position_kind not in COUPLED:
            return Positions(self.position_kind)
        return Positions(self.position_kind, max(0, self.coupled_ids - 1 - longest_train_place), self.coupled_ids,
                         f"{rule}{MARKED}" if self.mark_ends else rule)

    @property
    def local_path(self) -> str | None:
        return self.scale[5:] if self.scale.startswith("path:") else None


def positions_for(max_len: int) -> int:
    """Learned position table size: the next power of two >= max_len, at least 64."""
    n = 64
    while n < max_len:
        n *= 2
    return n


def build_model(spec: ModelSpec, tokenizer, max_len: int, init_len: int | None = None, train_len: int | None = None,
                start_from: str | Path | None = None):
    """A causal LM for ``tokenizer``: a from-scratch config (random init from the torch seed set by
    the caller) or a local checkpoint; wrapped with LoRA when asked. ``init_len`` pairs the model with
    the one built for that (shorter) length -- a LEMA trial passes its CoT trial's ``max_len``: every
    weight is drawn exactly as for that model, then a GPT-2's position table is widened to fit ``max_len``
    (``widen_positions``). A Llama (RoPE) draws nothing that depends on the length; a local checkpoint
    is loaded as it is. ``train_len``: the longest training row (``logn`` attention's base).
    ``start_from``: a saved model (another trial's) whose weights replace the random ones
    (``start_weights``), before any LoRA."""
    import transformers

    if spec.local_path:
        model = load_checkpoint(spec.local_path)
        family = "llama" if "llama" in model.config.model_type else "gpt2"
    else:
        cfg = dict(SCALES.get(spec.scale))
        family = cfg.pop("family")
        ids = dict(vocab_size=tokenizer.vocab_size, bos_token_id=tokenizer.bos_id,
                   eos_token_id=tokenizer.eos_id, pad_token_id=tokenizer.pad_id)
        if family == "gpt2":
            # gelu_pytorch_tanh: GPT-2's tanh GELU as one fused op (the default gelu_new is the same
            # formula in Python ops and took 60% of a tiny model's forward time on CPU)
            # the table's size changes how many numbers init draws: size it for ``init_len``, widen after
            first = positions_for(max_len if init_len is None else min(init_len, max_len))
            config = transformers.GPT2Config(n_positions=first, resid_pdrop=spec.dropout,
                                             activation_function="gelu_pytorch_tanh",
                                             embd_pdrop=spec.dropout, attn_pdrop=spec.dropout, **ids, **cfg)
            model = transformers.GPT2LMHeadModel(config)
            # coupled ids index the table by digit place: every id needs a row (64 at the default range)
            widen_positions(model, positions_for(max(max_len, spec.coupled_ids if spec.position_kind in COUPLED
                                                     else 0)))
        else:  # RoPE: no position weights; max_position_embeddings changes no random draw
            config = transformers.LlamaConfig(max_position_embeddings=max(4096, positions_for(max_len)),
                                              num_key_value_heads=cfg["num_attention_heads"],
                                              attention_dropout=spec.dropout, **ids, **cfg)
            model = transformers.LlamaForCausalLM(config)
    return _finish(model, spec, family, train_len or max_len, start_from, tokenizer)


def _finish(model, spec: ModelSpec, family: str, train_len: int, start_from: str | Path | None, tokenizer):
    """The built network's attention scaling, starting weights, fixed number rows and LoRA, in that
    order (the fixed rows after the starting weights: a pretraining trial with the same rows leaves
    them as they are)."""
    if spec.attention == "logn":
        scale_attention(model, train_len)
    elif spec.attention == "logn_train":
        scale_attention(model, LOGN_TRAIN_BASE)
    elif spec.attention in ALIBI_OVER:
        bias_ids(model, ALIBI_OVER[spec.attention])
    if start_from is not None:
        start_weights(model, start_from)
    fix_number_rows(model, spec.number_embeddings, tokenizer)
    return model if spec.lora is None else with_lora(model, spec.lora, family)


def start_weights(model, directory: str | Path) -> None:
    """Every weight of ``model`` from the saved model in ``directory`` (safetensors only), which must
    be the same network; a GPT-2 position table saved shorter fills its first rows (the rest keep
    their random init: positions the saved model never had)."""
    import torch
    from safetensors.torch import load_file

    saved = {}
    for file in sorted(Path(directory).glob("*.safetensors")):
        saved.update(load_file(str(file)))
    own = model.state_dict()
    tied = {k for k in own if k not in saved and k.endswith("lm_head.weight")}  # tied to the embedding
    missing = set(own) - set(saved) - tied
    if missing or set(saved) - set(own):
        raise ValueError(f"{directory} holds another network: missing {sorted(missing)[:3]}, "
                         f"unexpected {sorted(set(saved) - set(own))[:3]}")
    with torch.no_grad():
        for key, value in saved.items():
            target = own[key]
            if value.shape == target.shape:
                target.copy_(value)
            elif key.endswith("wpe.weight") and value.shape[1:] == target.shape[1:] and len(value) <= len(target):
                target[:len(value)].copy_(value)
            else:
                raise ValueError(f"{directory}: {key} has shape {tuple(value.shape)}, the model's is "
                                 f"{tuple(target.shape)}")


def load_checkpoint(directory: str | Path):
    """A local checkpoint's model: local files, safetensors, never its own code; a folder transformers
    cannot load is bad input (naming ``model.scale``), not a traceback."""
    import transformers

    with loading(directory, "a causal LM", "model.scale", PATH_ALLOWED):
        model = transformers.AutoModelForCausalLM.from_pretrained(str(directory), local_files_only=True,
                                                                  use_safetensors=True, trust_remote_code=False)
    restore_attention(model)  # (a saved caseray model with its own attention: named in its config)
    return model


def with_lora(model, lora: LoraSpec, family: str):
    import peft

    targets = list(lora.target_modules or DEFAULT_LORA_TARGETS[family])
    try:
        return peft.get_peft_model(model, peft.LoraConfig(r=lora.rank, lora_alpha=lora.alpha,
                                                          lora_dropout=lora.dropout, target_modules=targets,
                                                          task_type="CAUSAL_LM"))
    except ValueError as err:  # targets this architecture does not have
        linear = sorted({n.split(".")[-1] for n, m in model.named_modules() if type(m).__name__ in (
            "Linear", "Conv1D")})
        raise SpecError("model.lora.target_modules", f"{targets} on {model.config.model_type}: "
                        f"{short(str(err), 200, False)}", linear) from None


def save_trained(spec: ModelSpec, model, directory: str | Path) -> None:
    """The trained model as ``load_trained`` reads it: a LoRA adapter beside its local base checkpoint,
    or whole weights (a from-scratch scale's LoRA merged in: its base weights exist nowhere else)."""
    if spec.lora is not None and not spec.local_path:
        import copy

        model = copy.deepcopy(model).merge_and_unload()
    model.save_pretrained(directory)


def widen_positions(model, n_positions: int) -> None:
    """Grow a from-scratch GPT-2's learned position table to ``n_positions`` rows (no-op if it has as
    many). Its rows stay as they are; the new ones are drawn as GPT-2 initialises them (normal, std
    ``initializer_range``) from a generator of their own, seeded from the torch RNG state, so the global
    stream (LoRA's init after this, dropout) goes on exactly as for the model without them."""
    import torch

    wpe = model.transformer.wpe
    old, dim = wpe.weight.shape
    if n_positions <= old:
        return
    seed = int.from_bytes(hashlib.sha256(torch.get_rng_state().numpy().tobytes()).digest()[:8], "little")
    extra = torch.empty(n_positions - old, dim, device="cpu").normal_(
        0.0, model.config.initializer_range, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        weight = torch.cat([wpe.weight, extra.to(wpe.weight.device, wpe.weight.dtype)])
    wpe.weight = torch.nn.Parameter(weight, requires_grad=wpe.weight.requires_grad)
    wpe.num_embeddings = n_positions
    model.config.n_positions = n_positions


def load_trained(spec: ModelSpec, directory: str | Path):
    """A model a trial saved (``save_trained``): whole weights, or a LoRA adapter put back on its local
    base checkpoint. Local files only, safetensors only."""
    if spec.lora is not None and spec.local_path:
        import peft

        return peft.PeftModel.from_pretrained(load_checkpoint(spec.local_path), str(directory),
                                              local_files_only=True)
    return load_checkpoint(directory)


def count_parameters(model, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
