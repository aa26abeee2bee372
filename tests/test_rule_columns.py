"""The column trace (``rule_following_columns``) against plain integer arithmetic, its two-level places
against hand-written ones, and its decoder's places against the ones it is trained with."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.formats import get_format
from caseray.data.places import PLACE_RULES, prompt_span
from caseray.data.tasks import TaskSpec, build_task
from caseray.trial.spec import TrialSpec

FMT = get_format("rule_following_columns")
LINE = re.compile(r"(\d)\+(\d)\+(\d)=(\d)(\d)")


def cases(base: int) -> list[tuple[int, int]]:
    """Equal and mixed lengths, a zero operand and carry chains, as no generator of caseray draws them."""
    rng = random.Random(base)
    pairs = [(0, 0), (999 if base == 10 else 728, 1), (1, 999 if base == 10 else 728), (5, 0), (0, 7)]
    pairs += [(base**n - 1, base**n - 1) for n in (1, 3, 6)] + [(base**5 - 3, 3), (12, base**7 - 1)]
    return pairs + [(rng.randrange(base ** rng.randint(1, 8)), rng.randrange(base ** rng.randint(1, 8)))
                    for _ in range(60)]


@pytest.mark.parametrize("name,base", [("addition", 10), ("base9_addition", 9)])
def test_each_line_is_one_column_of_the_schoolbook_sum(name, base):
    task = build_task(TaskSpec(name=name))  # (the grid range plays no part in writing a trace)
    for a, b in cases(base):
        *steps, answer = FMT.lines(task, a, b)
        total = a + b
        width = max(1, len(np.base_repr(total, base)))
        assert len(steps) == (width if total else 1), (a, b, steps)
        for i, line in enumerate(steps):
            p, q, c, t1, t0 = map(int, LINE.fullmatch(line).groups())
            column = base**i
            carry_in = (a % column + b % column) // column  # what the lower columns carry, directly
            assert (p, q, c) == ((a // column) % base, (b // column) % base, carry_in), (a, b, i)
            assert (t1, t0) == divmod(p + q + c, base), (a, b, i)
        assert answer == "=" + np.base_repr(total, base)[::-1]
        assert FMT.read_answer(FMT.target(task, a, b)) == task.answer(a, b)
        assert FMT.first_wrong_step(task, a, b, FMT.target(task, a, b)) is None


def test_a_wrong_line_is_named_and_the_prompt_holds_the_program_and_only_the_operands_digits():
    task = build_task(TaskSpec(name="addition", high=999))
    text = FMT.target(task, 57, 68).replace("5+6+1=12", "5+6+0=11")
    assert FMT.first_wrong_step(task, 57, 68, text) == 1
    prompt = FMT.prompt(task, 57, 68)
    assert prompt.endswith("\n57+68=") and "while x or y or c:" in prompt
    assert re.findall(r"\d+", prompt) == ["57", "68"]


def test_two_level_places_of_a_trace_written_by_hand():
    """57 + 68: (place, role) per digit; roles 1 a's digit, 2 b's, 3 carry into the column, 4 its digit."""
    rule = PLACE_RULES["columns"]
    target = "7+8+0=15\n5+6+1=12\n0+0+1=01\n=521"
    expected = [(1, 1), (1, 2), (1, 3), (2, 3), (1, 4),   # 7 8 0 1 5: the 1 is the carry into column 2
                (2, 1), (2, 2), (2, 3), (3, 3), (2, 4),
                (3, 1), (3, 2), (3, 3), (4, 3), (3, 4),
                (1, 4), (2, 4), (3, 4)]                   # the answer's digits are the columns' digits
    coded = [x for ch, x in zip(target, rule.target(target)) if ch.isdigit()]
    assert [divmod(x, rule.levels) for x in coded] == expected
    others = [divmod(x, rule.levels) for ch, x in zip(target, rule.target(target)) if not ch.isdigit()]
    assert others == [(1, 0)] * 4 + [(2, 0)] * 4 + [(3, 0)] * 4 + [(0, 0)]  # "+ + = \n" per line, the answer's "="
    prompt = "code\n57+68="
    assert [divmod(x, rule.levels) for ch, x in zip(prompt, rule.prompt(prompt)) if ch.isdigit()] == \
        [(2, 1), (1, 1), (2, 2), (1, 2)]
    assert rule.span(prompt) == prompt_span(prompt) + 1 == 4  # the last line's carry names place 4


def test_coupled_column_traces_are_specs_with_their_own_rule_and_refused_where_they_cannot_work():
    base = {"format": "rule_following_columns", "tokenizer": "digit", "model": {"scale": "llama-tiny",
            "positions": "coupled_random"}, "lengths": {"train_digits": [1, 3], "test_digits": [1, 6]}}
    spec = from_dict(TrialSpec, base)
    assert spec.positions().rule == "columns" and spec.positions().levels == 5
    with pytest.raises(SpecError) as err:
        from_dict(TrialSpec, {**base, "model": {"scale": "tiny", "positions": "coupled"}})
    assert err.value.field == "model.scale" and "llama-tiny" in str(err.value)
    with pytest.raises(SpecError) as err:
        from_dict(TrialSpec, {**base, "lengths": {"train_digits": [1, 3], "test_digits": [1, 61]}})
    # answers of up to 62 digits, the trace's carry one place past them, a spare id, and id 0
    assert err.value.field == "model.coupled_ids" and ">= 65" in str(err.value)
    with pytest.raises(SpecError) as err:
        from_dict(TrialSpec, {**base, "format_options": {"reverse": True}})
    assert err.value.field == "format_options"


def test_the_decoder_gives_each_new_token_the_id_training_gives_it():
    """A model made to write each row's gold trace (its logits forced, so the text is a real trace of
    3- and 4-digit mixed and carry-chain problems): the position ids the decoder hands it, recorded at
    every step, equal the ids the trace is trained with."""
    import torch

    from caseray.data.datasets import load_dataset
    from caseray.data.tokenizers import build_tokenizer
    from caseray.train.batches import make_batchable
    from caseray.train.evaluate import _left_padded, _prompt_positions, decode_with_positions
    from caseray.train.models import build_model

    spec = from_dict(TrialSpec, {"format": "rule_following_columns", "tokenizer": "digit", "model": {
        "scale": "llama-tiny", "positions": "coupled_random"}, "lengths": {"train_digits": [1, 2], "test_digits": [
            3, 4], "train_per_length": 0, "test_per_length": 4, "test_families": ["mixed", "carry"]}})
    tok, positions = build_tokenizer("digit"), spec.positions()
    table = load_dataset(spec.data_spec(), tokenizer=tok).slice(0, 12)
    gold = table["target_ids"].to_pylist()  # (eos last)
    model = build_model(spec.model, tok, 512)
    handed, calls = [], []

    def write_gold(module, inputs, logits):
        k = len(calls)
        calls.append(k)
        forced = torch.full_like(logits[:, -1], -1e9)
        for r, g in enumerate(gold):
            forced[r, g[min(k, len(g) - 1)]] = 0.0
        return torch.cat([logits[:, :-1], forced[:, None]], 1)

    model.get_output_embeddings().register_forward_hook(write_gold)
    model.register_forward_pre_hook(lambda m, args, kwargs: handed.append(kwargs["position_ids"]), with_kwargs=True)
    rows = range(table.num_rows)
    ids, mask = _left_padded(table, tok, rows)
    pos, spans = _prompt_positions(table, rows, ids.shape[1], positions)
    written = decode_with_positions(model, ids, mask, pos, spans, tok, positions, max_new=max(map(len, gold)))
    assert written == gold
    decoded = torch.cat(handed, 1)  # per row: the prompt's ids (left-padded), then one per token fed back
    data = make_batchable(table, tok.bos_id, tok.pad_id, places=True, rule=positions.rule)
    for r in rows:
        trained = positions.ids(data.places[r:r + 1], (1, data.places.shape[1]), spans=data.spans[r:r + 1])[0]
        n = int(mask[r].sum()) + len(gold[r]) - 1  # bos + prompt + the trace (its eos is never fed back)
        fed = decoded[r, ids.shape[1] - int(mask[r].sum()):][:n]
        assert fed.tolist() == trained[:n].tolist(), r
        assert len(set(fed.tolist())) > 10  # many distinct ids: three or more columns, four roles each
