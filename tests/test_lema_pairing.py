"""Paired comparisons stay paired: a LEMA trial and its CoT baseline (the same spec without ``lema``)
start from the same initial weights, although the LEMA trial's correction rows are longer and need a
longer position table. Only the GPT-2 position table's extra rows differ; a Llama (RoPE) has none."""

import pytest
import torch

from caseray.core.specs import from_dict
from caseray.lema.rows import cot_spec
from caseray.train.models import positions_for
from caseray.train.runtime import Runtime
from caseray.trial.run import fit, prepare
from caseray.trial.spec import TrialSpec

BASE = {"task": {"name": "addition", "high": 14}, "format": "scratchpad", "tokenizer": "digit",
        "split": {"kind": "square", "half_width": 2}, "train": {"steps": 250, "batch_size": 32, "lr": 3e-3}}
MODELS = {"gpt2": {"scale": "tiny"}, "llama": {"scale": "llama-tiny"},
          "gpt2-lora": {"scale": "tiny", "dropout": 0.1, "lora": {"rank": 4}}}


def initial_state(spec: TrialSpec, root):
    """What the trial's ``fit`` starts from: its prepared data, the model's weights before any step and
    the torch RNG state after building the model (the stream dropout then draws from)."""
    prepared = prepare(spec, root, Runtime())
    model = fit(spec, prepared, Runtime(), None, None, stop_after=0).model
    weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return prepared, model, weights, torch.get_rng_state()


@pytest.mark.parametrize("family", MODELS)
def test_lema_trial_starts_from_its_cot_trials_weights(family, tmp_path):
    lema = from_dict(TrialSpec, {**BASE, "model": MODELS[family],
                                 "lema": {"mistake_source": "synthetic", "correction_ratio": 0.5}})
    cot_p, cot_model, cot, cot_rng = initial_state(cot_spec(lema), tmp_path)
    lema_p, lema_model, paired, lema_rng = initial_state(lema, tmp_path)
    # the case that used to break the pairing: the corrections need a longer position table
    assert positions_for(lema_p.max_len) > positions_for(cot_p.max_len)
    assert paired.keys() == cot.keys()
    wpe = [k for k in cot if k.endswith("wpe.weight")]
    assert len(wpe) == (0 if family == "llama" else 1)
    for key in cot.keys() - set(wpe):
        assert torch.equal(paired[key], cot[key]), key
    for key in wpe:  # the CoT table's rows, then rows of its own for the longer corrections
        n_cot, n_lema = positions_for(cot_p.max_len), positions_for(lema_p.max_len)
        assert cot[key].shape[0] == cot_model.config.n_positions == n_cot  # the CoT trial as before
        assert paired[key].shape[0] == lema_model.config.n_positions == n_lema >= lema_p.max_len
        assert torch.equal(paired[key][:n_cot], cot[key])
        extra = paired[key][n_cot:]
        std = lema_model.config.initializer_range
        assert 0.8 * std < extra.std().item() < 1.2 * std and abs(extra.mean().item()) < 0.1 * std
        assert not any(torch.equal(extra[i], cot[key][i]) for i in range(n_cot))  # fresh draws, no copies
    assert torch.equal(lema_rng, cot_rng)  # widening drew nothing from the global stream (dropout stays paired)
