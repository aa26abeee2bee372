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

``id_alibi`` (coupled ids only): ALiBi (Press et al., 2022) over coupled ids instead of token
distances -- each head's logits get ``-slope * |id(query) - id(key)|``, so a key whose place is far
from the query's weighs less however many such keys there are: a query's mass on other places is
bounded by a geometric series, not by the row's length. Every lookup of the carries answer is at
its own id (distance 0), so the bias costs it nothing. Slopes: ALiBi's geometric sequence (ratio
``2 ** (-8 / heads)``), started at 1 per id because an id is a place, not a token (4 heads: 1, 1/4,
1/16, 1/64; the flattest is nearly global over 256 ids). Keys' ids: the forward's ``position_ids``,
or under a KV cache every key's id so far, handed as the ``caseray_key_ids`` keyword
(``caseray.train.evaluate.decode_with_positions`` does).

``place_alibi``: the same bias over *places* -- a key's distance is the difference of its id's and the
query's ranks among the row's distinct ids, not how far apart the ids are. Why:
``coupled_random`` spreads a short training row's few places over the whole id range (neighbours ~40
ids apart) and a long test row's many places evenly over the same range (~5 apart at 50 digits), so
over ids a long test puts keys *nearer* in bias than training ever did -- against ALiBi's own
extrapolation, where a test only adds farther, weaker keys. Over ranks a neighbouring place is 1 in
training and test alike and a longer row only adds farther places; RoPE still gets the randomized
ids. Ranks come from the ids the forward is handed (its ``position_ids``, or ``caseray_key_ids``
under a KV cache), so nothing else changes; a saved model names it in ``caseray_alibi_over``. The ranks
count every key handed over (padding at id 0, and in a full forward the later tokens too), so they match
a KV-cached decoder's only where an output never writes a new id below one already written: true of a
direct answer (its ids are the prompt's or above them all), not of a column trace (refused).
Measured (docs/FINDINGS.md, "Over places, not ids"): far worse -- over places the flattest heads are
nearly uniform on every short training row and learn no locality; over randomized ids they are local.
"""

from __future__ import annotations

import math

NAME = "caseray_logn"
CONFIG_KEY = "caseray_logn_base"
ALIBI_NAME = "caseray_id_alibi"
ALIBI_KEY = "caseray_id_alibi_slopes"
KEY_IDS = "caseray_key_ids"  # forward keyword: every key's coupled id (decoding under a KV cache)
OVER_KEY = "caseray_alibi_over"  # "places": place_alibi (absent: distances between ids, id_alibi)
ALIBI_OVER = {"id_alibi": "ids", "place_alibi": "places"}


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


def head_slopes(heads: int) -> list[float]:
    """``id_alibi``'s slope per head: 1, then each ``2 ** (-8 / heads)`` times the last."""
    return [2.0 ** (-8 * h / heads) for h in range(heads)]


def id_distance_bias(query_ids, key_ids, slopes):
    """``-slope * |id(query) - id(key)|``: [batch, heads, queries, keys]."""
    distance = (query_ids[:, None, :, None] - key_ids[:, None, None, :]).abs().float()
    return -slopes[None, :, None, None] * distance


def id_ranks(query_ids, key_ids):
    """Each id's rank among the distinct ids of its row's keys (how many smaller ones there are): the
    query's and the keys'. A query is one of the keys, so its id is among them. (Padding and, in a
    full forward, later keys count too: see the module's docstring for when that is exact.)"""
    import torch

    batch = max(query_ids.shape[0], key_ids.shape[0])
    query_ids, key_ids = query_ids.expand(batch, -1), key_ids.expand(batch, -1)
    top = int(max(query_ids.max(), key_ids.max())) + 1
    present = torch.zeros((batch, top), dtype=torch.long, device=key_ids.device)
    present.scatter_(1, key_ids, 1)
    below = present.cumsum(-1) - present
    return below.gather(1, query_ids), below.gather(1, key_ids)


def id_alibi_attention(module, query, key, value, attention_mask, scaling=None, **kwargs):
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    query_ids = kwargs.get("position_ids")
    if query_ids is None:
        raise ValueError("id_alibi attention needs the forward's position_ids (coupled ids)")
    key_ids = kwargs.pop(KEY_IDS, None)
    key_ids = query_ids if key_ids is None else key_ids
    if key_ids.shape[-1] != key.shape[-2]:
        raise ValueError(f"id_alibi attention got {key_ids.shape[-1]} key ids for {key.shape[-2]} keys: under a "
                         f"KV cache pass every key's id as {KEY_IDS}")
    query_ids, key_ids = query_ids.to(query.device), key_ids.to(query.device)
    if getattr(module.config, OVER_KEY, "ids") == "places":
        query_ids, key_ids = id_ranks(query_ids, key_ids)
    slopes = query.new_tensor(getattr(module.config, ALIBI_KEY), dtype=torch.float32)
    bias = id_distance_bias(query_ids, key_ids, slopes).to(query.dtype)
    return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, position_bias=bias,
                                  **kwargs)


def bias_ids(model, over: str = "ids") -> None:
    """Give ``model`` (a Llama with coupled ids) ALiBi over coupled ids, one slope per head: ``over``
    "ids" (``id_alibi``: the ids' distance) or "places" (``place_alibi``: their ranks' distance)."""
    if over not in ALIBI_OVER.values():
        raise ValueError(f"ALiBi over {over!r}: ids or places")
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ALIBI_NAME, id_alibi_attention)
    AttentionMaskInterface.register(ALIBI_NAME, sdpa_mask)
    setattr(model.config, ALIBI_KEY, head_slopes(model.config.num_attention_heads))
    if over == "places":  # (id_alibi's saved configs stay as they were)
        setattr(model.config, OVER_KEY, over)
    model.set_attn_implementation(ALIBI_NAME)


def uses_key_ids(model) -> bool:
    """Whether ``model``'s attention needs every key's id handed to it under a KV cache."""
    return getattr(model.config, ALIBI_KEY, None) is not None


def custom_attention(model) -> bool:
    """Whether ``model`` runs one of caseray's attention functions (which return no weights)."""
    return getattr(model.config, CONFIG_KEY, None) is not None or uses_key_ids(model)


def restore_attention(model) -> None:
    """A loaded model saved with caseray's attention gets it back (its config names ``base`` or the
    slopes)."""
    base = getattr(model.config, CONFIG_KEY, None)
    if base is not None:
        scale_attention(model, int(base))
    if uses_key_ids(model):
        bias_ids(model, getattr(model.config, OVER_KEY, "ids"))
