"""A saved coupled-id model (direct, reversed answers, digit tokens) scored on fresh mixed-length
additions whose digit places get *other* ids than its test gave them -- to tell whether long problems
fail for their number of places or for how close their ids come (docs/FINDINGS.md, "Past the id range").

Id maps, place 1..span -> id: ``even`` (the trial's own test ids: spread evenly over its id range),
``gapG`` (place * G, rounded; may pass the range), ``random`` (a sorted random subset of the range, as
``coupled_random`` trains), ``randR`` (a sorted random subset of 1..R). Exact = argmax right at every
answer token (teacher-forced greedy); ``PROBLEMS`` per length, the other operand 1..n digits, either side.
"""

from __future__ import annotations

import random
import re

from caseray.core.errors import SpecError
from caseray.data.places import digit_places, prompt_span
from caseray.train.positions import evenly_spread

PROBLEMS = 40
MAPS = "even, random, gapG (G > 0, e.g. gap2.5), randR (R >= the span, e.g. rand255)"


def check_map(how: str) -> str:
    if how in ("even", "random") or re.fullmatch(r"gap\d+(\.\d+)?", how) and float(how[3:]) > 0 \
            or re.fullmatch(r"rand\d+", how):
        return how
    raise SpecError("maps", f"unknown id map {how!r}", MAPS)


def problems(rng: random.Random, n: int) -> list[tuple[int, int]]:
    out = []
    for _ in range(PROBLEMS):
        m = rng.randint(1, n)
        a, b = rng.randrange(10 ** (n - 1), 10 ** n), rng.randrange(10 ** (m - 1) if m > 1 else 0, 10 ** m)
        out.append((a, b) if rng.random() < 0.5 else (b, a))
    return out


def id_map(span: int, how: str, id_range: int, generator) -> list[int]:
    """Ids of places 0..span (place 0, a non-digit, keeps id 0)."""
    import torch

    if how == "even":
        return [evenly_spread(p, span, id_range) for p in range(span + 1)]
    if how.startswith("gap"):
        return [round(p * float(how[3:])) for p in range(span + 1)]
    top = id_range - 1 if how == "random" else int(how[4:])
    if span > top:
        raise SpecError("maps", f"{how}: {span} places do not fit in ids 1..{top}", MAPS)
    return [0] + (torch.randperm(top, generator=generator)[:span].sort().values + 1).tolist()


def spacing_scores(model, tokenizer, n: int, how: str, id_range: int) -> tuple[float, list[float]]:
    """Exact match on ``PROBLEMS`` fresh n-digit mixed-length additions under id map ``how``, and the
    share of problems wrong at each answer place (least significant first; the end token last)."""
    import torch

    rng, generator, right = random.Random(12345 + n), torch.Generator().manual_seed(n), 0
    wrong, seen = [0] * (n + 2), [0] * (n + 2)
    with torch.inference_mode():
        for a, b in problems(rng, n):
            prompt, target = f"{a}+{b}=", str(a + b)[::-1]
            ids_of = id_map(prompt_span(prompt), how, id_range, generator)
            places = [0] + digit_places(prompt) + digit_places(target, True) + [0]
            tokens = [tokenizer.bos_id] + tokenizer.encode(prompt) + tokenizer.encode(target) + [tokenizer.eos_id]
            ids = torch.tensor([tokens])
            logits = model(input_ids=ids, position_ids=torch.tensor([[ids_of[p] for p in places]])).logits[0]
            start = 1 + len(prompt)
            ok = (logits[start - 1:-1].argmax(-1) == ids[0, start:]).tolist()
            right += all(ok)
            for k, good in enumerate(ok):
                wrong[k] += not good
                seen[k] += 1
    return right / PROBLEMS, [w / c for w, c in zip(wrong, seen) if c]


def spacing_exact(model, tokenizer, n: int, how: str, id_range: int) -> float:
    """Exact match on ``PROBLEMS`` fresh n-digit mixed-length additions under id map ``how``."""
    return spacing_scores(model, tokenizer, n, how, id_range)[0]


def by_tenths(errors: list[float]) -> list[float]:
    """Per-place error rates averaged over ten equal stretches of the answer (fewer if it is shorter)."""
    k = min(10, len(errors))
    cuts = [round(i * len(errors) / k) for i in range(k + 1)]
    return [sum(errors[lo:hi]) / (hi - lo) for lo, hi in zip(cuts, cuts[1:])]
