"""Number embeddings of a known geometry (``model.number_embeddings: linear | fourier``,
``caseray.train.number_embeddings``): the rows are what the formulas say (checked here by their own
structure: equal steps on a line; a DFT with power at the periods' frequencies alone), they stay bit
for bit through AdamW with weight decay (one process, DDP, DeepSpeed), they save and load as plain
weights, and every misuse is refused naming the field."""

import json
import math
import os
from dataclasses import replace

import numpy as np
import pytest
import torch

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.tokenizers import build_tokenizer
from caseray.train.engine import Engine
from caseray.train.models import LoraSpec, ModelSpec, build_model, load_trained, save_trained
from caseray.train.number_embeddings import PERIODS, check_width
from caseray.train.spec import TrainSpec
from caseray.trial.run import run_trial
from caseray.trial.spec import TrialSpec
from helpers import save_tiny_checkpoint, tiny_spec

SCALE_OF_INIT = 0.02 * math.sqrt(128)  # GPT-2's / Llama's initializer_range * sqrt(hidden) of the tiny scales


def number_ids(tokenizer) -> list[int]:
    """Each number's token, found by encoding its text (one token each)."""
    ids = [tokenizer.encode(str(n)) for n in range(tokenizer.bound + 1)]
    assert all(len(i) == 1 for i in ids)
    return [i[0] for i in ids]


def built(kind: str, tokenizer: str = "number:100", scale: str = "tiny", seed: int = 0):
    tok = build_tokenizer(tokenizer)
    torch.manual_seed(seed)
    return build_model(ModelSpec(scale=scale, number_embeddings=kind), tok, max_len=32), tok


def rows_of(model, ids) -> torch.Tensor:
    return model.get_input_embeddings().weight.detach()[ids].double()


def test_linear_rows_lie_on_one_line_in_equal_steps():
    model, tok = built("linear")
    rows = rows_of(model, number_ids(tok))
    steps = rows[1:] - rows[:-1]
    assert torch.allclose(steps, steps[0].expand_as(steps), atol=1e-7)  # one direction, equal steps
    ends = rows[-1] - rows[0]  # (n / N - 0.5) u s runs over one s
    assert float(ends.norm()) == pytest.approx(SCALE_OF_INIT, rel=1e-5)
    centre = rows.mean(0)  # the ramp averages to 0 over 0..N: s v is left
    assert float(centre.norm()) == pytest.approx(SCALE_OF_INIT, rel=1e-5)
    assert abs(float(centre @ ends)) < 1e-6  # u and v orthogonal


def test_fourier_rows_hold_power_at_the_periods_frequencies_alone():
    """Differences over n turn the linear ramp into a constant (frequency 0) and keep every period's
    wave at its frequency: over 100 differences, power only at 0 and 100 / T = 1, 10, 20, 50."""
    model, tok = built("fourier")
    rows = rows_of(model, number_ids(tok))
    assert len(rows) == 101
    power = (np.abs(np.fft.rfft((rows[1:] - rows[:-1]).numpy(), axis=0)) ** 2).sum(1)
    expected = {0} | {100 // t for t in PERIODS}
    assert expected == {0, 1, 10, 20, 50}
    others = [k for k in range(len(power)) if k not in expected]
    assert min(power[k] for k in expected) > 1e-6 * power.sum()
    assert max(power[k] for k in others) < 1e-9 * min(power[k] for k in expected)
    norms = rows.norm(dim=1)  # about the init's row norm: sqrt(4 + 1 + ramp^2) / sqrt(5) of it
    assert float(norms.min()) >= SCALE_OF_INIT * 0.999 and float(norms.max()) <= SCALE_OF_INIT * 1.03


def test_a_second_operands_numbers_get_the_same_geometry_moved_along_a_direction_of_their_own():
    model, tok = built("fourier", "number_roles:50")
    ids = number_ids(tok)
    roles = [tok.encode(f"1+{n}=")[2] for n in range(51)]  # b's token, read off an encoded prompt
    assert not set(roles) & set(ids)
    a, b = rows_of(model, ids), rows_of(model, roles)
    shift = b - a
    assert torch.allclose(shift, shift[0].expand_as(shift), atol=1e-7)
    assert float(shift[0].norm()) == pytest.approx(SCALE_OF_INIT / math.sqrt(5), rel=1e-5)
    assert float(((a - a.mean(0)) @ shift[0]).abs().max()) < 1e-6  # orthogonal to every number's own part


def test_every_other_weight_is_drawn_as_in_the_learned_model_of_the_same_seed():
    fixed, tok = built("fourier")
    learned, _ = built("learned")
    ids = torch.tensor(number_ids(tok))
    other = torch.ones(tok.vocab_size, dtype=torch.bool)
    other[ids] = False
    a, b = fixed.state_dict(), learned.state_dict()
    assert a.keys() == b.keys()  # no new entries: the fixed rows are the weight's own rows
    for key in a:
        if key.endswith(("wte.weight", "lm_head.weight")):
            assert torch.equal(a[key][other], b[key][other]) and not torch.equal(a[key][ids], b[key][ids])
        else:
            assert torch.equal(a[key], b[key]), key


def additions(tok, count: int = 32, seed: int = 0):
    """Right-padded ``a+b=c`` rows and their labels (every real token)."""
    g = np.random.default_rng(seed)
    texts = [f"{a}+{b}={a + b}" for a, b in g.integers(0, 40, (count, 2))]
    encoded = [[tok.bos_id] + tok.encode(t) + [tok.eos_id] for t in texts]
    width = max(map(len, encoded))
    ids = torch.tensor([e + [tok.pad_id] * (width - len(e)) for e in encoded])
    mask = (torch.arange(width)[None] < torch.tensor([len(e) for e in encoded])[:, None]).long()
    return ids, ids.masked_fill(mask == 0, -100), mask


def train_steps(model, tok, steps: int = 4, lr: float = 1e-2, weight_decay: float = 0.5) -> None:
    spec = TrainSpec(lr=lr, weight_decay=weight_decay, grad_clip=1.0)
    engine = Engine(model, spec, lambda s: 1.0, torch.device("cpu"))
    for step in range(steps):
        ids, labels, mask = additions(tok, seed=step)
        engine.step(engine.loss(ids, labels, mask))


def test_the_number_rows_stay_bit_identical_through_adamw_with_weight_decay():
    model, tok = built("fourier", "number")
    ids = number_ids(tok)
    weight = model.get_input_embeddings().weight
    before = weight.detach().clone()
    batch = additions(tok)
    model(input_ids=batch[0], attention_mask=batch[2], labels=batch[1]).loss.backward()
    assert not weight.grad[ids].any() and weight.grad[tok.ids["+"]].any()  # the hook: no gradient on them
    weight.grad = None
    train_steps(model, tok)
    assert torch.equal(weight.detach()[ids], before[ids])
    assert model.lm_head.weight is weight  # GPT-2 ties: the numbers' output rows are these rows
    for sign in "+=":
        assert not torch.equal(weight.detach()[tok.ids[sign]], before[tok.ids[sign]])


def test_llama_fixes_the_input_rows_only_and_its_decay_is_real():
    """Llama does not tie: its numbers' output rows learn. An input row no batch uses gets no gradient
    and only decays -- by (1 - lr wd) a step, the decay the fixed rows are kept from."""
    model, tok = built("fourier", "number", scale="llama-tiny")
    ids = number_ids(tok)
    weight, head = model.get_input_embeddings().weight, model.lm_head.weight
    before, head_before = weight.detach().clone(), head.detach().clone()
    unused = tok.ids["z"]
    train_steps(model, tok, steps=3, lr=1e-2, weight_decay=0.5)
    assert torch.equal(weight.detach()[ids], before[ids])
    assert torch.allclose(weight.detach()[unused], before[unused] * (1 - 1e-2 * 0.5) ** 3, rtol=1e-6)
    assert not torch.equal(head.detach()[ids], head_before[ids])


def test_a_saved_model_is_plain_weights_that_load_to_the_same_logits(tmp_path):
    model, tok = built("linear", "number")
    train_steps(model, tok, steps=2)
    fixed = rows_of(model, number_ids(tok))
    save_trained(ModelSpec(number_embeddings="linear"), model, tmp_path / "model")
    loaded = load_trained(ModelSpec(), tmp_path / "model").eval()  # nothing special: the weights hold them
    ids, _, mask = additions(tok, seed=9)
    with torch.no_grad():
        assert torch.equal(model.eval()(input_ids=ids, attention_mask=mask).logits,
                           loaded(input_ids=ids, attention_mask=mask).logits)
    assert torch.equal(rows_of(loaded, number_ids(tok)), fixed)


BASE = {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}}


@pytest.mark.parametrize("fields, words", [
    ({"tokenizer": "digit"}, "^model.number_embeddings: fourier number embeddings fix the rows of whole-number "
                             "tokens; tokenizer 'digit' has none"),
    ({"model": {"number_embeddings": "fourier", "lora": {"rank": 4}}}, "^model.number_embeddings: LoRA freezes"),
    ({"init": {"trial": BASE}}, "^init.trial.model.number_embeddings: 'learned', but this trial's "
                                "model.number_embeddings is 'fourier'"),
    ({"model": {"number_embeddings": "cosine"}}, "^model.number_embeddings: .*allowed: learned, linear, fourier"),
])
def test_misuse_is_refused_naming_the_field(fields, words):
    data = {**BASE, "model": {"number_embeddings": "fourier"}, **fields}
    with pytest.raises(SpecError, match=words):
        from_dict(TrialSpec, data)


def test_a_local_checkpoint_is_refused(tmp_path):
    save_tiny_checkpoint(tmp_path / "ckpt")
    with pytest.raises(SpecError, match="^model.number_embeddings: .* is a checkpoint: its number embeddings "
                                        "are pretrained"):
        from_dict(TrialSpec, {**BASE, "tokenizer": f"hf:{tmp_path / 'ckpt'}",
                              "model": {"scale": f"path:{tmp_path / 'ckpt'}", "number_embeddings": "linear"}})
    with pytest.raises(SpecError, match="^number_embeddings: LoRA"):
        ModelSpec(number_embeddings="linear", lora=LoraSpec())


def test_a_hidden_size_too_small_for_the_directions_is_refused():
    check_width("fourier", False, 10)  # cos and sin of 4 periods, ramp and constant
    with pytest.raises(SpecError, match="^model.number_embeddings: fourier number embeddings use 11 "):
        check_width("fourier", True, 10)  # + the second operand's direction
    with pytest.raises(SpecError, match="use 2 orthonormal directions; the model's hidden size is 1"):
        check_width("linear", False, 1)


def test_learned_keeps_every_name_and_a_fixed_geometry_names_a_new_trial():
    default = from_dict(TrialSpec, BASE)
    explicit = from_dict(TrialSpec, {**BASE, "model": {"number_embeddings": "learned"}})
    fourier = from_dict(TrialSpec, {**BASE, "model": {"number_embeddings": "fourier"}})
    linear = from_dict(TrialSpec, {**BASE, "model": {"number_embeddings": "linear"}})
    assert default.name == explicit.name
    assert len({default.name, fourier.name, linear.name}) == 3
    assert "fourier-numbers" in fourier.label and "numbers" not in default.label


def test_a_fourier_trial_runs_end_to_end_and_saves_its_fixed_rows(tmp_path):
    spec = tiny_spec(model=ModelSpec(number_embeddings="fourier"), train=replace(tiny_spec().train, weight_decay=0.1))
    result = run_trial(spec, tmp_path)
    metrics = json.loads((result.out_dir / "metrics.json").read_text())
    assert metrics["train/steps"] == 20 and "test_acc" in metrics
    tok = build_tokenizer("number")
    trained = load_trained(spec.model, result.out_dir / "model")
    fresh = build_model(spec.model, tok, max_len=32)
    assert torch.equal(rows_of(trained, number_ids(tok)), rows_of(fresh, number_ids(tok)))


def test_the_cost_model_builds_it_on_the_meta_device():
    """``caseray plan`` builds every trial's model on the meta device: the fixed rows are no new weights."""
    from caseray.report.costs import model_shape

    assert model_shape(ModelSpec(number_embeddings="fourier"), "number", 32) == model_shape(ModelSpec(), "number", 32)


def data_parallel_worker(rank: int, backend: str, port: int, out: str) -> None:
    """One of 2 gloo ranks: a fixed-row tiny GPT-2 trained 3 steps with weight decay through the
    backend's engine; writes its number rows and its '+' row."""
    from caseray.train.engine import DeepSpeedEngine
    from caseray.train.runtime import Runtime

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2")
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    model, tok = built("fourier", "number")
    spec = TrainSpec(lr=1e-2, weight_decay=0.5, batch_size=32)
    if backend == "deepspeed":
        runtime = Runtime(backend="deepspeed", zero_stage=2)
        engine = DeepSpeedEngine(model, spec, lambda s: 1.0, torch.device("cpu"), runtime)
    else:
        engine = Engine(model, spec, lambda s: 1.0, torch.device("cpu"), ddp=True)
    for step in range(3):
        ids, labels, mask = additions(tok, seed=step)
        engine.step(engine.loss(ids[rank::2], labels[rank::2], mask[rank::2]))
    weight = model.get_input_embeddings().weight.detach()
    torch.save({"numbers": weight[number_ids(tok)].clone(), "plus": weight[tok.ids["+"]].clone()},
               f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["ddp", "deepspeed"])
def test_the_rows_stay_fixed_on_two_data_parallel_ranks(backend, tmp_path):
    from helpers import free_port

    torch.multiprocessing.spawn(data_parallel_worker, args=(backend, free_port(), str(tmp_path)), nprocs=2)
    model, tok = built("fourier", "number")
    start = model.get_input_embeddings().weight.detach()
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert torch.equal(got["numbers"], start[number_ids(tok)]), rank
        assert not torch.equal(got["plus"], start[tok.ids["+"]])
