"""Number embeddings of a known geometry (``ModelSpec.number_embeddings``), the "why the diagonal"
issue's intervention: does a fixed number geometry close the hole at a = b?

- ``learned`` (default): every embedding row is drawn at random and trained (what every trial did
  before this field).
- ``linear``: the input row of number n (every whole-number token 0..N, N the ``number`` tokenizer's
  bound) is ``e(n) = s * ((n / N - 0.5) u + v)``: all numbers on one line, equally spaced.
- ``fourier``: ``e(n) = s / sqrt(5) * (sum over T of [cos(2 pi n / T) w_T + sin(2 pi n / T) w'_T]
  + (n / N - 0.5) u + v)`` over the periods T in ``PERIODS`` = 2, 5, 10, 100 -- those Zhou et al.
  (2024) found in pre-trained LLMs' number embeddings -- plus the same linear component. (At T = 2
  the sine is 0 at every integer: w'_2 is drawn and unused.)

u, v, w_T, w'_T are orthonormal directions drawn from a generator of their own seeded with
``GEOMETRY_SEED`` -- not the trial's seed, and not the global torch stream: every trial of a width
gets the same geometry, and every other weight is drawn exactly as in the ``learned`` trial of the
same seed. ``s = initializer_range * sqrt(hidden)`` is the typical norm of a row at init (0.02 * sqrt
d for the shipped scales), so a fixed row is as long as the learned rows around it start. A
``number_roles`` tokenizer's second-operand tokens ``<b:n>`` get the same ``e(n)`` plus one more direction r, as
strong as v (the two roles stay apart; the geometry is the numbers').

How the rows stay fixed:

1. a gradient hook on the embedding weight (``Tensor.register_hook``) zeroes those rows' gradient
   before it is accumulated: Adam's moments stay 0, so its update of them is exactly 0, and they add
   nothing to the clipped norm. The hook runs before DDP's and DeepSpeed's own (which read the
   accumulated gradient), so the reduced gradient is zero there too. (A ``copy.deepcopy`` of the
   model drops the hook: build the model again instead.)
2. AdamW's decoupled weight decay shrinks a parameter whatever its gradient: after every optimizer
   step the engine writes the rows back (``restore_number_rows``; ``caseray.train.engine``), so every
   forward pass, checkpoint and saved model holds them bit for bit. Under DeepSpeed the optimizer's
   fp32 master copy of those rows still decays; the model's own rows -- what every forward reads --
   are written back after each step (ZeRO-3: gathered first).

The fixed rows are the embedding weight's own rows (their values also kept in non-persistent buffers
of the embedding module, which no state dict holds): a saved model is plain safetensors and loads with
nothing special. GPT-2 ties ``lm_head`` to the input embedding, so its number tokens' *output* rows
are fixed too (the model reads numbers out along the same geometry); Llama does not tie (its
``tie_word_embeddings`` is false), so there only the input rows are fixed and the output rows learn.
Refused (``caseray.train.models.ModelSpec``, ``TrialSpec``) without whole-number tokens, for local
checkpoints (their embedding is pretrained) and with LoRA (which freezes the whole embedding).
"""

from __future__ import annotations

import math

from caseray.core.errors import SpecError

NUMBER_EMBEDDINGS = ("learned", "linear", "fourier")
PERIODS = (2, 5, 10, 100)  # Zhou et al. (2024): the periods of pre-trained LLMs' number features
GEOMETRY_SEED = 29  # the number: one geometry for every trial, whatever its seed
IDS, VALUES = "caseray_number_ids", "caseray_number_rows"  # the embedding module's (non-persistent) buffers
FIELD = "model.number_embeddings"


def directions(kind: str, roles: bool) -> int:
    """How many orthonormal directions ``kind``'s rows use (the hidden size must be at least this)."""
    return (2 if kind == "linear" else 2 * len(PERIODS) + 2) + (1 if roles else 0)


def check_width(kind: str, roles: bool, hidden: int) -> None:
    """Refuse a hidden size too small for ``kind``'s orthonormal directions."""
    need = directions(kind, roles)
    if kind != "learned" and hidden < need:
        raise SpecError(FIELD, f"{kind} number embeddings use {need} orthonormal directions; the model's hidden "
                        f"size is {hidden}", ["learned", f"a scale with hidden size >= {need}"])


def orthonormal(dim: int, k: int):
    """``k`` orthonormal directions in ``dim`` dimensions, (k, dim) float64 on the CPU, from
    ``GEOMETRY_SEED`` alone (the global torch stream is not touched)."""
    import torch

    g = torch.Generator(device="cpu").manual_seed(GEOMETRY_SEED)
    q, r = torch.linalg.qr(torch.randn(dim, k, generator=g, dtype=torch.float64, device="cpu"))
    return (q * torch.sign(torch.diagonal(r))).T  # signs fixed: the one Q with a positive diagonal R


def coefficients(kind: str, bound: int):
    """Each number's coordinates along the directions, (bound + 1, components) float64, scaled so
    that a row's norm is about 1: ``fourier`` [cos, sin per period..., ramp, 1] / sqrt(periods + 1);
    ``linear`` [ramp, 1]."""
    import torch

    n = torch.arange(bound + 1, dtype=torch.float64, device="cpu")
    line = [n / bound - 0.5, torch.ones_like(n)]
    if kind == "linear":
        return torch.stack(line, 1)
    waves = [f(2 * math.pi * n / t) for t in PERIODS for f in (torch.cos, torch.sin)]
    return torch.stack(waves + line, 1) / math.sqrt(len(PERIODS) + 1)


def number_rows(kind: str, bound: int, dim: int, scale: float, roles: bool = False):
    """The fixed rows of the numbers 0..``bound`` (float64, (bound + 1, dim)); with ``roles`` also
    those of their second-operand tokens after them (2 (bound + 1) rows)."""
    import torch

    check_width(kind, roles, dim)
    coef = coefficients(kind, bound)
    basis = orthonormal(dim, directions(kind, roles))
    rows = scale * coef @ basis[:coef.shape[1]]
    return torch.cat([rows, rows + scale * coef[0, -1] * basis[-1]]) if roles else rows


def number_token_ids(tokenizer) -> list[int]:
    """The token ids of 0..bound in order (then, ``number_roles``, those of ``<b:0>``..``<b:bound>``)."""
    bound = getattr(tokenizer, "bound", None)
    if bound is None:
        raise SpecError(FIELD, f"fixed number embeddings need one token per whole number; tokenizer "
                        f"{tokenizer.spec!r} has none", ["learned", "tokenizer: number or number_roles"])
    ids = [tokenizer.ids[str(n)] for n in range(bound + 1)]  # 0..9 are the digit characters' tokens
    return ids + ([tokenizer.ids[f"<b:{n}>"] for n in range(bound + 1)] if tokenizer.roles else [])


def fix_number_rows(model, kind: str, tokenizer) -> None:
    """Write ``kind``'s rows into ``model``'s input embedding and keep them there in training (the
    gradient hook; ``restore_number_rows`` after each step). ``learned``: nothing."""
    import torch

    if kind == "learned":
        return
    emb = model.get_input_embeddings()
    weight = emb.weight
    scale = model.config.initializer_range * math.sqrt(weight.shape[1])
    rows = number_rows(kind, tokenizer.bound, weight.shape[1], scale, tokenizer.roles)
    ids = torch.tensor(number_token_ids(tokenizer), dtype=torch.long, device="cpu")
    emb.register_buffer(IDS, ids.to(weight.device), persistent=False)
    emb.register_buffer(VALUES, rows.to(weight.device, weight.dtype), persistent=False)
    restore_number_rows(model)
    weight.register_hook(lambda grad: grad.index_fill(0, getattr(emb, IDS).to(grad.device), 0.0))


def restore_number_rows(model) -> None:
    """Write the fixed rows back (undoing weight decay); a model without fixed rows is left alone."""
    import torch

    emb = model.get_input_embeddings()
    ids = getattr(emb, IDS, None)
    if ids is None:
        return
    with torch.no_grad():
        emb.weight.index_copy_(0, ids.to(emb.weight.device), getattr(emb, VALUES).to(emb.weight))


def fixed_embedding(model):
    """The input embedding module when ``model`` has fixed number rows, else None (engines ask)."""
    get = getattr(model, "get_input_embeddings", None)
    emb = get() if get is not None else None
    return emb if getattr(emb, IDS, None) is not None else None
