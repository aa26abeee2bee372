"""Length-scaled attention (``model.attention: logn`` / ``logn_train``, ``caseray.train.attention``)."""

import copy
import math

import pytest
import torch

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.tokenizers import build_tokenizer
from caseray.train.attention import CONFIG_KEY, scale_attention
from caseray.train.models import LOGN_TRAIN_BASE, ModelSpec, build_model, load_trained, save_trained
from caseray.trial.spec import TrialSpec

BASE = 12


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=24, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # sharper than at init, so that scaling the logits visibly moves the output
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.mul_(8)
    return model


def with_q_hook(model, base):
    """The oracle: the same scaling written as a forward hook on every layer's query projection, for
    one unpadded row in one forward (query i sees i + 1 keys); RoPE rotates linearly, so scaling the
    projection scales the logits alike."""
    def hook(module, inputs, out):
        n = torch.arange(1, out.shape[1] + 1, dtype=out.dtype)
        return out * torch.clamp(torch.log(n) / math.log(base), min=1.0)[None, :, None]

    for layer in model.model.layers:
        layer.self_attn.q_proj.register_forward_hook(hook)
    return model


def test_rows_up_to_the_base_are_plain_attention_and_longer_ones_match_the_oracle():
    plain = tiny_llama()
    scaled, oracle = copy.deepcopy(plain), with_q_hook(copy.deepcopy(plain), BASE)
    scale_attention(scaled, BASE)
    ids = torch.randint(3, 24, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b, c = (m(input_ids=ids).logits for m in (plain, scaled, oracle))
    assert torch.equal(a[:, :BASE], b[:, :BASE])  # factor exactly 1: the same numbers, not merely close
    assert (a[:, BASE + 5:] - b[:, BASE + 5:]).abs().max() > 1e-3  # longer rows do change ...
    assert torch.allclose(b, c, atol=1e-5)  # ... exactly as the oracle scales them


def test_padding_and_the_kv_cache_see_the_keys_a_row_really_has():
    """A left-padded row and a row decoded one token at a time with the cache get the logits of the
    same row alone in one forward: the count of keys comes from the mask, not the tensor's width."""
    model = tiny_llama()
    scale_attention(model, BASE)
    ids = torch.randint(3, 24, (2, 36), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(ids)
    mask[1, :7] = 0
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    with torch.no_grad():
        padded = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
        alone = model(input_ids=ids[1:, 7:]).logits
        assert torch.allclose(padded[1, 7:], alone[0], atol=1e-5)
        out = model(input_ids=ids[:, :20], attention_mask=mask[:, :20], position_ids=pos[:, :20], use_cache=True)
        cache = {"cache": out["cache"]} if "cache" in out else {"past_key_values": out["past_key_values"]}
        for t in range(20, 36):
            out = model(input_ids=ids[:, t:t + 1], attention_mask=mask[:, :t + 1], position_ids=pos[:, t:t + 1],
                        use_cache=True, **cache)
            cache = {"cache": out["cache"]} if "cache" in out else {"past_key_values": out["past_key_values"]}
            assert torch.allclose(out.logits[:, 0], padded[:, t], atol=1e-5), t


def test_a_saved_model_loads_with_its_scaling(tmp_path):
    spec = ModelSpec(scale="llama-tiny", attention="logn")
    tokenizer = build_tokenizer("digit")
    torch.manual_seed(0)
    model = build_model(spec, tokenizer, max_len=64, train_len=BASE).eval()
    assert getattr(model.config, CONFIG_KEY) == BASE
    save_trained(spec, model, tmp_path / "model")
    loaded = load_trained(spec, tmp_path / "model").eval()
    ids = torch.randint(3, tokenizer.vocab_size, (2, 50), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.allclose(model(input_ids=ids).logits, loaded(input_ids=ids).logits, atol=1e-5)
        plain = build_model(ModelSpec(scale="llama-tiny"), tokenizer, max_len=64)
        plain.load_state_dict(model.state_dict())
        assert not torch.allclose(plain.eval()(input_ids=ids).logits[:, BASE + 10:],
                                  loaded(input_ids=ids).logits[:, BASE + 10:], atol=1e-4)


def test_logn_is_refused_for_gpt2_and_names_a_new_trial_only_when_set():
    data = {"format": "direct", "tokenizer": "digit", "model": {"scale": "llama-tiny"}}
    with pytest.raises(SpecError, match=r"^model.attention: .*'tiny' is a gpt2 model"):
        from_dict(TrialSpec, {**data, "model": {"scale": "tiny", "attention": "logn"}})
    with pytest.raises(SpecError, match=r"^model.attention: .*allowed: softmax, logn, logn_train"):
        from_dict(TrialSpec, {**data, "model": {"scale": "llama-tiny", "attention": "sharp"}})
    default = from_dict(TrialSpec, data)
    explicit = from_dict(TrialSpec, {**data, "model": {"scale": "llama-tiny", "attention": "softmax"}})
    logn = from_dict(TrialSpec, {**data, "model": {"scale": "llama-tiny", "attention": "logn"}})
    assert default.name == explicit.name != logn.name


def test_logn_train_scales_from_the_second_key_on_in_training_too_and_survives_save_and_load(tmp_path):
    """``logn_train``: log2(n) on every row, whatever the training length -- the oracle with base 2 from
    the second position on, where ``logn`` would still be plain attention."""
    assert LOGN_TRAIN_BASE == 2
    spec = ModelSpec(scale="llama-tiny", attention="logn_train")
    tokenizer = build_tokenizer("digit")
    torch.manual_seed(0)
    model = build_model(spec, tokenizer, max_len=64, train_len=BASE).eval()
    assert getattr(model.config, CONFIG_KEY) == 2  # the training length plays no part
    plain = build_model(ModelSpec(scale="llama-tiny"), tokenizer, max_len=64).eval()
    plain.load_state_dict(model.state_dict())
    oracle = with_q_hook(copy.deepcopy(plain), 2)
    ids = torch.randint(3, tokenizer.vocab_size, (2, 30), generator=torch.Generator().manual_seed(4))
    save_trained(spec, model, tmp_path / "model")
    loaded = load_trained(spec, tmp_path / "model").eval()
    with torch.no_grad():
        got, want, unscaled = model(input_ids=ids).logits, oracle(input_ids=ids).logits, plain(input_ids=ids).logits
        assert torch.allclose(got, want, atol=1e-5)
        assert torch.equal(got[:, :2], unscaled[:, :2])  # n = 1, 2: factor 1
        assert (got[:, 3:BASE] - unscaled[:, 3:BASE]).abs().max() > 1e-4  # inside the training length: scaled
        assert torch.allclose(loaded(input_ids=ids).logits, got, atol=1e-5)
