"""Length-scaled attention (``ModelSpec.attention: logn``): a query that sees more keys than any
training row had gets sharper attention -- its logits are multiplied by ``log(n) / log(base)``, ``n``
the keys it sees (padding excluded), ``base`` the longest training row; 1 at ``n <= base``, so
training is exactly plain attention and only longer test rows change.

Why: a softmax spreads its mass over more candidates as a row grows, and a query that must pick one
digit of each operand among n of its kind loses its peak (Chiang & Cholak, 2022, scale attention by
log n; Qwen's "logn attention" at inference). Measured (docs/FINDINGS.md, "Past the id range"): the
same coupled-id weights (trained on 1-5 digits, 3 seeds) go from 0.53 to 0.95 exact at 30 digits and
from 0.00 to 0.39 at 50 with it.

``logn_train`` is the same function with ``base`` 2: the scaling acts in training too (every row of
two or more keys), so the model learns its attention under it rather than meeting it only at test
time -- Chiang & Cholak's own setting.

Written as an attention function registered with transformers (``AttentionInterface``), so the same
scaling holds in full forwards, KV-cached decoding and left-padded batches: the keys a query sees
come from the attention mask it is handed. A saved model keeps ``base`` in its config
(``caseray_logn_base``); ``caseray.train.models.load_trained`` puts the scaling back.
"""

from __future__ import annotations

import math

NAME = "caseray_logn"
CONFIG_KEY = "caseray_logn_base"


def visible_keys(attention_mask, q_len: int, k_len: int, device):
    """Keys each query sees: [batch or 1, 1, q_len, 1]. From the mask (bool: True = seen; additive:
    0 = seen), or causal when there is none (the last ``q_len`` of ``k_len`` positions)."""
    import torch

    if attention_mask is None:
        return torch.arange(k_len - q_len + 1, k_len + 1, device=device, dtype=torch.float32)[None, None, :, None]
    seen = attention_mask if attention_mask.dtype == torch.bool else attention_mask == 0
    return seen[..., :k_len].sum(-1, keepdim=True).clamp(min=1).float()


def logn_factor(n, base: int):
    """``max(1, log n / log base)``: 1 for rows no longer than the longest training row."""
    return (n.log() / math.log(base)).clamp(min=1.0)


def logn_attention(module, query, key, value, attention_mask, scaling=None, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    factor = logn_factor(visible_keys(attention_mask, query.shape[-2], key.shape[-2], query.device),
                         getattr(module.config, CONFIG_KEY))
    return sdpa_attention_forward(module, query * factor.to(query.dtype), key, value, attention_mask,
                                  scaling=scaling, **kwargs)


def scale_attention(model, base: int) -> None:
    """Give ``model`` (a Llama) length-scaled attention with ``base`` its longest training row."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if base < 2:
        raise ValueError(f"logn attention needs a longest training row of >= 2 tokens, got {base}")
    AttentionInterface.register(NAME, logn_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)  # the masks sdpa gets (else padding is not masked)
    setattr(model.config, CONFIG_KEY, int(base))
    model.set_attn_implementation(NAME)


def restore_attention(model) -> None:
    """A loaded model saved with length-scaled attention gets it back (its config names ``base``)."""
    base = getattr(model.config, CONFIG_KEY, None)
    if base is not None:
        scale_attention(model, int(base))
