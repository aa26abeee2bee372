"""Evaluation of every cell of the grid.

Greedy exact match by **one teacher-forced forward pass** per batch: a greedy decode reproduces the
target (eos included) iff, fed the target, the argmax at every target position is the target token.
The first position where it is not is where greedy decoding leaves the target, which names the
first wrong line (step). Sampled evaluation draws N completions per cell at temperature T with
batched, KV-cached ``generate()`` and scores the parsed answers.
"""

from __future__ import annotations

import inspect
from typing import NamedTuple

import numpy as np
import torch

from caseray.core.progress import progress
from caseray.data.places import PLACE_RULES, READERS, next_place, start_places
from caseray.train.attention import KEY_IDS, uses_key_ids
from caseray.train.batches import IGNORE, Batchable
from caseray.train.engine import autocast, positions_kw
from caseray.train.positions import Positions

MAX_BATCH_TOKENS = 16_384  # rows x padded length per forward pass: attention memory grows with length^2


def _batches(data: Batchable, batch_size: int, max_tokens: int = MAX_BATCH_TOKENS):
    """Row indices in batches of similar length (less padding): up to ``batch_size`` rows, and no more
    than ``max_tokens`` tokens once padded (long rule-following traces go a few rows at a time)."""
    order = torch.argsort(data.lengths, stable=True)
    lengths = data.lengths[order].tolist()
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and end - start < batch_size and (end - start + 1) * lengths[end] <= max_tokens:
            end += 1
        yield order[start:end]
        start = end


class TeacherForced(NamedTuple):
    correct: np.ndarray  # (N,) bool: greedy decoding reproduces the target
    first_bad: np.ndarray  # (N,) first diverging target position, -1: none
    predicted: np.ndarray  # (N,) the token predicted there, -1: none
    step_acc: np.ndarray | None  # (N,) share of target lines whose every token is predicted right


def _step_acc(ok: torch.Tensor, target: torch.Tensor, newline_ids: torch.Tensor) -> torch.Tensor:
    """Per row, the share of target lines (each with the newline or eos that ends it) predicted right
    token by token, the right prefix given (teacher forcing: each step judged on its own)."""
    on = target != IGNORE
    ends = torch.isin(target, newline_ids) & on
    line = torch.cumsum(ends.int(), 1) - ends.int()  # a line's newline belongs to it
    n_lines = ends.sum(1) + 1  # the last line ends with eos
    bad = torch.zeros(target.shape[0], int(line.max()) + 1, device=target.device)
    bad.scatter_add_(1, line, (on & ~ok).float())
    return 1 - (bad > 0).sum(1) / n_lines


@torch.inference_mode()
def teacher_forced(model, data: Batchable, batch_size: int, device: torch.device, precision: str = "fp32",
                   newline_ids=None, positions: Positions = Positions(), only_scored: bool = True) -> TeacherForced:
    """Per row: greedy-correct flag, first diverging target position and the token predicted there;
    with ``newline_ids`` (the tokens that end a line) also the step (line) accuracy. ``only_scored``:
    the LM head runs only at the columns where some row of the batch has a target (transformers'
    ``logits_to_keep``, where the model takes it) -- a prompt's positions are never scored, and with a
    large vocabulary the head is most of a small model's cost (``benchmarks/eval_logits.py``)."""
    model.eval()
    only_scored = only_scored and keeps_logits(model)
    n = len(data)
    correct = np.zeros(n, dtype=bool)
    first_bad = np.full(n, -1, dtype=np.int64)
    predicted = np.full(n, -1, dtype=np.int64)
    step_acc = None if newline_ids is None else np.zeros(n)
    newlines = None if newline_ids is None else torch.as_tensor(list(newline_ids), device=device)
    for idx in progress(list(_batches(data, batch_size)), "evaluating (teacher-forced)", unit="batch"):
        ids, labels, mask = (t.to(device) for t in data.take(idx))
        places, spans = data.take_places(idx)
        pos = positions.ids(places, ids.shape, spans=spans)  # test: no random offset or spacing
        pos = None if pos is None else pos.to(device)
        target = labels[:, 1:]
        pred = _greedy_at_targets(model, ids, mask, pos, target, device, precision, only_scored)
        ok = (pred == target) | (target == IGNORE)
        all_ok = ok.all(1)
        col = (~ok).int().argmax(1)  # first wrong column (shifted coordinates)
        rows = idx.numpy()
        correct[rows] = all_ok.cpu().numpy()
        bad = ~all_ok.cpu().numpy()
        pos = (col + 1 - data.prompt_lengths[idx].to(device)).cpu().numpy()
        first_bad[rows[bad]] = pos[bad]
        predicted[rows[bad]] = pred.gather(1, col[:, None])[:, 0].cpu().numpy()[bad]
        if newlines is not None:
            step_acc[rows] = _step_acc(ok, target, newlines).cpu().numpy()
    return TeacherForced(correct, first_bad, predicted, step_acc)


def keeps_logits(model) -> bool:
    """Whether the model computes logits at chosen positions only (``logits_to_keep``)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # (a PEFT model passes it on)
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def _greedy_at_targets(model, ids, mask, pos, target, device, precision: str, only_scored: bool) -> torch.Tensor:
    """The argmax token at each target column (shifted coordinates: column j predicts token j + 1);
    ``IGNORE`` where no row of the batch has a target, when only those columns are computed."""
    kw = positions_kw(pos)
    keep = (target != IGNORE).any(0).nonzero().flatten() if only_scored else None
    if keep is not None:
        kw["logits_to_keep"] = keep
    with autocast(device, precision):
        logits = model(input_ids=ids, attention_mask=mask, **kw).logits
    if keep is None:
        return logits[:, :-1].argmax(-1)
    pred = torch.full_like(target, IGNORE)
    pred[:, keep] = logits.argmax(-1)
    return pred


def wrong_line(tokenizer, target_ids, position: int, predicted: int) -> int:
    """Line index where greedy decoding leaves the target at token ``position`` predicting ``predicted``
    (the same index ``Format.first_wrong_step`` gives for the generated text)."""
    line = tokenizer.decode(target_ids[:position]).count("\n")
    ends_line = position == len(target_ids) - 1 or tokenizer.decode(target_ids[position:position + 1]).startswith("\n")
    if ends_line:
        said = tokenizer.decode([predicted])
        # the line so far was complete: stopping there leaves the next line missing, and a new line
        # where the solution should have ended adds one
        if predicted == tokenizer.eos_id or said == "" or (position == len(target_ids) - 1 and said.startswith("\n")):
            line += 1
    return line


def _left_padded(table, tokenizer, rows):
    prompts = [[tokenizer.bos_id] + list(table["prompt_ids"][int(i)].as_py()) for i in rows]
    width = max(map(len, prompts))
    ids = torch.full((len(prompts), width), tokenizer.pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for j, p in enumerate(prompts):
        ids[j, width - len(p):] = torch.tensor(p)
        mask[j, width - len(p):] = 1
    return ids, mask


def _prompt_positions(table, rows, width: int, positions: Positions) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ``position_ids`` of ``[bos] + prompt`` (nope: zeros; coupled: from digit places)
    and each row's span (``caseray.data.places.prompt_span``)."""
    out = torch.zeros((len(rows), width), dtype=torch.long)
    spans = torch.zeros(len(rows), dtype=torch.long)
    if positions.coupled:
        placer = PLACE_RULES[positions.rule]
        for j, i in enumerate(rows):
            prompt = table["prompt"][int(i)].as_py()
            spans[j] = placer.span(prompt)
            places = positions.place_id(torch.tensor(start_places(placer, prompt)), spans[j])
            out[j, width - len(places):] = places
    return out, spans


@torch.inference_mode()
def decode_with_positions(model, ids, mask, pos, spans, tokenizer, positions: Positions, max_new: int,
                          sample: bool = False, temperature: float = 1.0) -> list[list[int]]:
    """Greedy (or sampled) KV-cached decoding that hands the model its ``position_ids`` at every step
    -- what ``generate()`` cannot do for nope / coupled ids. A new token's coupled id is its place in
    the reversed answer (``next_place``), or by its rule's reader (``READERS``: a column trace's, a
    carries answer's; per row); rows stop at eos."""
    digits = torch.tensor([tokenizer.decode([t]).isdigit() for t in range(tokenizer.vocab_size)], device=ids.device)
    key_ids = pos if uses_key_ids(model) else None  # (id_alibi: every key's id, as the cache grows)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
    place = torch.zeros(len(ids), dtype=torch.long, device=ids.device)
    reader = READERS.get(positions.rule) if positions.coupled else None
    readers = [reader() for _ in range(len(ids))] if reader is not None else None
    done = torch.zeros(len(ids), dtype=torch.bool, device=ids.device)
    tokens = []
    for _ in range(max_new):
        logits = out.logits[:, -1].float()
        if sample:
            nxt = torch.multinomial(torch.softmax(logits / temperature, -1), 1)[:, 0]
        else:
            nxt = logits.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, tokenizer.pad_id), nxt)
        tokens.append(nxt)
        done |= nxt == tokenizer.eos_id
        if bool(done.all()):
            break
        if readers is not None:  # (the characters a row writes after its eos are never read)
            place = torch.tensor([r.feed(tokenizer.decode([t])) for r, t in zip(readers, nxt.tolist())],
                                 device=ids.device)
        elif positions.coupled:
            place = next_place(place, digits[nxt])
        mask = torch.cat([mask, (~done).long()[:, None]], 1)
        step = {"cache": out["cache"]} if "cache" in out else {"past_key_values": out["past_key_values"]}
        new_ids = positions.place_id(place, spans)[:, None]
        if key_ids is not None:
            key_ids = torch.cat([key_ids, new_ids], 1)
            step[KEY_IDS] = key_ids
        out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=new_ids, use_cache=True,
                    **step)  # (transformers 5 names the KV cache ``cache``, 4 ``past_key_values``)
    gen = torch.stack(tokens, 1).cpu().tolist()
    return [[t for t in row if t != tokenizer.pad_id] for row in gen]


def _cut(tokens, eos_id: int) -> list[int]:
    tokens = list(tokens)
    return tokens[:tokens.index(eos_id) + 1] if eos_id in tokens else tokens


@torch.inference_mode()
def generate(model, table, tokenizer, device: torch.device, batch_size: int = 256, samples: int = 0,
             temperature: float = 1.0, seed: int = 0, extra_tokens: int = 4,
             positions: Positions = Positions()) -> list[list[list[int]]]:
    """Completions per row with HF ``generate()`` (KV cache, left padding): greedy when
    ``samples == 0`` (one completion per row), else ``samples`` draws at ``temperature``.
    Each completion is cut after its eos. Nope / coupled ids decode with ``decode_with_positions``."""
    model.eval()
    torch.manual_seed(seed)
    lengths = np.array([len(x) for x in table.column("target_ids").to_pylist()])
    order = np.argsort(lengths, kind="stable")
    total = lengths + np.array([len(x) for x in table.column("prompt_ids").to_pylist()])
    per = max(1, min(batch_size, MAX_BATCH_TOKENS // int(total.max())) // max(samples, 1))
    out: list[list[list[int]]] = [[] for _ in range(table.num_rows)]
    what = "decoding (greedy)" if samples == 0 else f"sampling ({samples} per row)"
    for i in progress(range(0, len(order), per), what, unit="batch"):
        rows = order[i:i + per]
        ids, mask = _left_padded(table, tokenizer, rows)
        max_new = int(lengths[rows].max()) + extra_tokens
        if positions.explicit:
            k = max(samples, 1)
            pos, spans = _prompt_positions(table, rows, ids.shape[1], positions)
            ids, mask, pos, spans = (t.repeat_interleave(k, 0).to(device) for t in (ids, mask, pos, spans))
            gen = decode_with_positions(model, ids, mask, pos, spans, tokenizer, positions, max_new, samples > 0,
                                        temperature)
        else:
            kwargs = dict(do_sample=False) if samples == 0 else dict(
                do_sample=True, temperature=temperature, top_k=0, top_p=1.0, num_return_sequences=samples)
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new,
                                 pad_token_id=tokenizer.pad_id, eos_token_id=tokenizer.eos_id, **kwargs)
            gen = gen[:, ids.shape[1]:].cpu().tolist()
        k = max(samples, 1)
        for j, r in enumerate(rows):
            out[r] = [_cut(g, tokenizer.eos_id) for g in gen[j * k:(j + 1) * k]]
    return out
