"""ALiBi over coupled ids (``model.attention: id_alibi``, ``caseray.train.attention``)."""

import copy

import pytest
import torch

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.tokenizers import build_tokenizer
from caseray.train.attention import ALIBI_KEY, KEY_IDS, bias_ids, head_slopes
from caseray.train.models import ModelSpec, build_model, load_trained, save_trained
from caseray.trial.spec import TrialSpec

SLOPES = [1.0, 0.25, 0.0625, 0.015625]  # by hand: 1, then each 2 ** (-8 / 4) = 1/4 of the last


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=24, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4)
    return LlamaForCausalLM(config).eval()


def oracle_attention(seen_2d):
    """The bias written out key by key, with the mask from the row's own padding (``seen_2d``)."""
    def attend(module, query, key, value, attention_mask, scaling=None, **kwargs):
        ids = kwargs["position_ids"]
        batch, heads, n, _ = query.shape
        scores = query @ key.transpose(-1, -2) * scaling
        for b in range(batch):
            for h in range(heads):
                for i in range(n):
                    for j in range(n):
                        if j > i or not seen_2d[b, j]:
                            scores[b, h, i, j] = torch.finfo(scores.dtype).min
                        else:
                            scores[b, h, i, j] -= SLOPES[h] * abs(int(ids[b, i]) - int(ids[b, j]))
        return (torch.softmax(scores, -1) @ value).transpose(1, 2), None
    return attend


def ids_and_places():
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 24, (2, 14), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, :4] = 0  # a left-padded row
    pos = torch.randint(0, 200, (2, 14), generator=gen)  # coupled ids: any order, repeats allowed
    return ids, mask, pos


def test_slopes_and_logits_match_the_bias_written_out_key_by_key():
    from transformers import AttentionInterface

    assert head_slopes(4) == SLOPES
    ids, mask, pos = ids_and_places()
    biased, oracle, plain = tiny_llama(), tiny_llama(), tiny_llama()
    bias_ids(biased)
    AttentionInterface.register("test_oracle_alibi", oracle_attention(mask))
    oracle.set_attn_implementation("test_oracle_alibi")
    with torch.no_grad():
        got, want, unbiased = (m(input_ids=ids, attention_mask=mask, position_ids=pos).logits
                               for m in (biased, oracle, plain))
    seen = mask.bool()
    assert torch.allclose(got[seen], want[seen], atol=1e-5)
    assert (got[seen] - unbiased[seen]).abs().max() > 1e-3  # the bias does change the output


def cache_of(out) -> dict:
    """The KV cache a forward returned, as the next call takes it (transformers 5: ``cache``, 4:
    ``past_key_values``)."""
    return {"cache": out["cache"]} if "cache" in out else {"past_key_values": out["past_key_values"]}


def decode_matches_one_forward(model, ids, mask, pos, start, whole):
    """The prompt's first ``start`` tokens in one forward, then one token at a time under the KV cache
    with every key's id so far; each step's logits must be ``whole``'s at that place. The last output."""
    out = model(input_ids=ids[:, :start], attention_mask=mask[:, :start], position_ids=pos[:, :start], use_cache=True)
    for t in range(start, ids.shape[1]):
        out = model(input_ids=ids[:, t:t + 1], attention_mask=mask[:, :t + 1], position_ids=pos[:, t:t + 1],
                    use_cache=True, **cache_of(out), **{KEY_IDS: pos[:, :t + 1]})
        assert torch.allclose(out.logits[:, 0], whole[:, t], atol=1e-5), t
    return out


def test_cached_decoding_with_every_keys_id_matches_one_forward_and_refuses_without_them():
    model = tiny_llama()
    bias_ids(model)
    ids, mask, pos = ids_and_places()
    with torch.no_grad():
        whole = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
        out = decode_matches_one_forward(model, ids, mask, pos, 6, whole)
        step = cache_of(out)
        with pytest.raises(ValueError, match=KEY_IDS):  # one id for 15 keys: refused, never a silent wrong bias
            model(input_ids=ids[:, :1], attention_mask=mask[:, :1].repeat(1, 15), position_ids=pos[:, :1],
                  use_cache=True, **step)


def test_a_saved_model_loads_with_its_bias(tmp_path):
    spec = ModelSpec(scale="llama-tiny", positions="coupled_random", coupled_ids=256, attention="id_alibi")
    tokenizer = build_tokenizer("digit")
    torch.manual_seed(0)
    model = build_model(spec, tokenizer, max_len=64).eval()
    assert getattr(model.config, ALIBI_KEY) == SLOPES
    save_trained(spec, model, tmp_path / "model")
    loaded = load_trained(spec, tmp_path / "model").eval()
    plain = copy.deepcopy(loaded)
    plain.set_attn_implementation("sdpa")
    ids = torch.randint(3, tokenizer.vocab_size, (2, 30), generator=torch.Generator().manual_seed(3))
    pos = torch.randint(0, 256, (2, 30), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        got = loaded(input_ids=ids, position_ids=pos).logits
        assert torch.allclose(model(input_ids=ids, position_ids=pos).logits, got, atol=1e-5)
        assert not torch.allclose(plain(input_ids=ids, position_ids=pos).logits, got, atol=1e-4)


def test_id_alibi_needs_coupled_ids_and_names_a_new_trial_only_when_set():
    data = {"format": "direct", "tokenizer": "digit", "format_options": {"reverse": True},
            "model": {"scale": "llama-tiny", "positions": "coupled_random"}}
    with pytest.raises(SpecError, match=r"^model.attention: id_alibi biases attention by the distance between "
                                        r"coupled ids, but 'llama-tiny' uses 'rope' positions"):
        from_dict(TrialSpec, {**data, "model": {"scale": "llama-tiny", "attention": "id_alibi"}})
    with pytest.raises(SpecError, match=r"^model.attention: .*'tiny' is a gpt2 model"):
        from_dict(TrialSpec, {**data, "model": {"scale": "tiny", "positions": "coupled", "attention": "id_alibi"}})
    plain = from_dict(TrialSpec, data)
    biased = from_dict(TrialSpec, {**data, "model": {**data["model"], "attention": "id_alibi"}})
    assert plain.name != biased.name and biased.model.attention == "id_alibi"


# ``place_alibi``: the same bias over the distance between places -- each id's rank among its row's ids.

def ranks_by_hand(row):
    """Each id's rank among the row's distinct ids, by sorting them."""
    order = sorted(set(row))
    return [order.index(i) for i in row]


def place_ids(gen):
    """Ids as a direct answer's rows have them: padding at 0, a prompt's ids, then an answer whose every
    id is one of the prompt's or above all of them (so ranks over the keys so far are the row's)."""
    pos = torch.zeros((2, 14), dtype=torch.long)
    for b, start in ((0, 0), (1, 4)):  # (row 1: left-padded, its first 4 keys padding at id 0)
        prompt = torch.randint(1, 200, (8 - start,), generator=gen)
        more = [int(prompt[int(torch.randint(0, len(prompt), (), generator=gen))]) for _ in range(4)] + [230, 240]
        pos[b, start:] = torch.cat([prompt, torch.tensor(more)])
    return pos


def test_place_alibi_matches_the_bias_over_ranks_written_out_key_by_key():
    from transformers import AttentionInterface

    ids, mask, _ = ids_and_places()
    pos = place_ids(torch.Generator().manual_seed(5))
    ranks = torch.tensor([ranks_by_hand(row) for row in pos.tolist()])
    biased, oracle, over_ids = tiny_llama(), tiny_llama(), tiny_llama()
    bias_ids(biased, "places")
    bias_ids(over_ids)
    AttentionInterface.register("test_oracle_alibi", oracle_attention(mask))
    oracle.set_attn_implementation("test_oracle_alibi")
    with torch.no_grad():
        got = biased(input_ids=ids, attention_mask=mask, position_ids=pos).logits
        oracle.model.rotary_emb.forward = lambda x, position_ids: biased.model.rotary_emb(x, pos)  # RoPE: the ids
        want = oracle(input_ids=ids, attention_mask=mask, position_ids=ranks).logits  # the bias: the ranks
        by_ids = over_ids(input_ids=ids, attention_mask=mask, position_ids=pos).logits
    seen = mask.bool()
    assert torch.allclose(got[seen], want[seen], atol=1e-5)
    assert (got[seen] - by_ids[seen]).abs().max() > 1e-3  # not id_alibi's bias


def test_place_alibi_sees_only_the_order_of_ids_not_their_spacing():
    """The attention function alone (no RoPE): any two spacings of the same places attend alike; over ids
    (``id_alibi``) they do not."""
    from types import SimpleNamespace

    from caseray.train.attention import OVER_KEY, id_alibi_attention

    gen = torch.Generator().manual_seed(6)
    q, k, v = (torch.randn(1, 4, 7, 8, generator=gen) for _ in range(3))
    dense, sparse = torch.tensor([[0, 1, 2, 3, 3, 5, 6]]), torch.tensor([[0, 9, 40, 41, 41, 200, 250]])
    module = SimpleNamespace(config=SimpleNamespace(**{ALIBI_KEY: SLOPES, OVER_KEY: "places"}), is_causal=True,
                             num_key_value_groups=1, training=False)
    out = [id_alibi_attention(module, q, k, v, None, scaling=0.3, position_ids=p)[0] for p in (dense, sparse)]
    assert torch.allclose(*out, atol=1e-6)
    module.config = SimpleNamespace(**{ALIBI_KEY: SLOPES})
    out = [id_alibi_attention(module, q, k, v, None, scaling=0.3, position_ids=p)[0] for p in (dense, sparse)]
    assert not torch.allclose(*out, atol=1e-3)


def test_place_alibi_decodes_under_a_kv_cache_as_one_forward_and_loads_back(tmp_path):
    spec = ModelSpec(scale="llama-tiny", positions="coupled_random", coupled_ids=256, attention="place_alibi")
    tokenizer = build_tokenizer("digit")
    torch.manual_seed(0)
    model = build_model(spec, tokenizer, max_len=64).eval()
    save_trained(spec, model, tmp_path / "model")
    loaded = load_trained(spec, tmp_path / "model").eval()
    ids = torch.randint(3, tokenizer.vocab_size, (2, 14), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0
    pos = place_ids(torch.Generator().manual_seed(7))
    with torch.no_grad():
        whole = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
        assert torch.allclose(loaded(input_ids=ids, attention_mask=mask, position_ids=pos).logits, whole, atol=1e-5)
        decode_matches_one_forward(loaded, ids, mask, pos, 8, whole)


def test_place_alibi_needs_coupled_ids_and_no_column_trace():
    data = {"format": "direct", "tokenizer": "digit", "format_options": {"reverse": True},
            "model": {"scale": "llama-tiny", "positions": "coupled_random", "attention": "place_alibi"}}
    assert from_dict(TrialSpec, data).model.attention == "place_alibi"
    with pytest.raises(SpecError, match=r"^model.attention: place_alibi biases attention by the distance between "
                                        r"coupled ids, but 'llama-tiny' uses 'rope' positions"):
        from_dict(TrialSpec, {**data, "model": {"scale": "llama-tiny", "attention": "place_alibi"}})
    with pytest.raises(SpecError, match=r"^model.attention: place_alibi ranks a row's ids, and a 'columns' trace"):
        from_dict(TrialSpec, {**data, "format": "rule_following_columns", "format_options": None})
