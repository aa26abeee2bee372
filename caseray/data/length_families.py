"""Length problems as real additions are: named families of operand pairs.

A problem's length ``n`` is its longer operand's digit count (in the task's base; 0 has one digit).
Each family draws pairs of length ``n``:

- ``equal``: both operands ``n`` digits (the only family before length data version 3);
- ``mixed``: the other operand's digit count uniform in 1..n, either operand the long one;
- ``short_long``: one operand much shorter: the other is 0..base²-1 (0..base-1 up to n = 2), zeros included;
- ``carry``: a carry out of every place: base^n-1 + 1, 1 + base^n-1, base^n-1 + base^n-1, then
  base^n-k + k for k of any length 1..n not ending in 0 (so the units carry), either order;
- ``zero``: 0 + x and x + 0 (x ``n`` digits).

``draw(family, n, base, count, rng, seen)`` gives up to ``count`` distinct pairs not in ``seen``
(and adds them to it). Families whose pool is small are enumerated and shuffled, so a short length
yields all its pairs and no more; larger pools are sampled. Plain integer arithmetic throughout:
exactness matters more here than speed (a few thousand pairs per length).
"""

from __future__ import annotations

import itertools
import random

FAMILIES = ("equal", "mixed", "short_long", "carry", "zero")
LEGACY = ("equal",)  # what every length dataset held before the families (data version 3)
ENUMERATE_BELOW = 40_000  # a family's pool this small is listed whole, then shuffled


def n_digits(x: int, base: int) -> int:
    """Digits of ``x`` >= 0 in ``base`` (0 has one)."""
    count = 1
    while x >= base:
        x //= base
        count += 1
    return count


def with_digits(m: int, base: int) -> range:
    """Every number with exactly ``m`` digits (one digit: 0 included)."""
    return range(0 if m == 1 else base ** (m - 1), base ** m)


def _pick(rng: random.Random, r: range) -> int:
    return rng.randrange(r.start, r.stop)  # (random.choice takes len(), which overflows past 2**63)


def _either_order(rng: random.Random, long: int, short: int) -> tuple[int, int]:
    return (long, short) if rng.random() < 0.5 else (short, long)


def _short_range(n: int, base: int) -> range:
    return range(0, base ** min(2, n - 1) if n > 2 else base)


def pool_size(family: str, n: int, base: int) -> int:
    """How many distinct pairs the family has at length ``n`` (the ordered pairs it can draw)."""
    longs = base ** n - (base ** (n - 1) if n > 1 else 0)
    if family == "equal":
        return longs ** 2
    if family == "mixed":
        return base ** (2 * n) - (base ** (2 * n - 2) if n > 1 else 0)
    if family == "short_long":
        return base ** 2 if n == 1 else 2 * longs * (base ** min(2, n - 1) if n > 2 else base)
    if family == "carry":  # (base^n - k, k) for k in 1..base^n - 1 not ending in 0, and (base^n - 1, base^n - 1)
        return base ** n - base ** (n - 1) + 1
    return 2 * longs - (n == 1)  # zero: (0, 0) once


def _enumerate(family: str, n: int, base: int) -> list[tuple[int, int]]:
    longs, top = with_digits(n, base), base ** n
    if family == "equal":
        return list(itertools.product(longs, longs))
    if family == "mixed":
        return [(x, y) for x in range(top) for y in range(top) if max(n_digits(x, base), n_digits(y, base)) == n]
    if family == "short_long":
        shorts = _short_range(n, base)
        return sorted({p for x in longs for s in shorts for p in ((x, s), (s, x))})
    if family == "carry":
        return sorted({(top - k, k) for k in range(1, top) if k % base} | {(top - 1, top - 1)})
    return sorted({p for x in longs for p in ((0, x), (x, 0))})  # zero


def _sample(family: str, n: int, base: int, rng: random.Random) -> tuple[int, int]:
    longs, top = with_digits(n, base), base ** n
    if family == "equal":
        return _pick(rng, longs), _pick(rng, longs)
    if family == "mixed":
        return _either_order(rng, _pick(rng, longs), _pick(rng, with_digits(rng.randint(1, n), base)))
    if family == "short_long":
        return _either_order(rng, _pick(rng, longs), _pick(rng, _short_range(n, base)))
    if family == "carry":
        k = _pick(rng, with_digits(rng.randint(1, n), base))
        k += 0 if k % base else 1  # ends in a non-zero digit: the units carry, then every place
        return _either_order(rng, top - k, k)
    return _either_order(rng, 0, _pick(rng, longs))  # zero


def fixed(family: str, n: int, base: int) -> list[tuple[int, int]]:
    """Pairs a family always holds first: the full carry chains."""
    top = base ** n
    return [(top - 1, 1), (1, top - 1), (top - 1, top - 1)] if family == "carry" else []


def draw(family: str, n: int, base: int, count: int, rng: random.Random,
         seen: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """Up to ``count`` distinct pairs of the family at length ``n``, none in ``seen`` (which grows)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}")
    out: list[tuple[int, int]] = []

    def take(pair):
        if pair not in seen and len(out) < count:
            seen.add(pair)
            out.append(pair)

    for pair in fixed(family, n, base):
        take(pair)
    if pool_size(family, n, base) <= max(ENUMERATE_BELOW, 4 * count):
        pool = _enumerate(family, n, base)
        rng.shuffle(pool)
        for pair in pool:
            take(pair)
        return out
    attempts = 0
    while len(out) < count and attempts < 50 * count:
        take(_sample(family, n, base, rng))
        attempts += 1
    return out


def legacy_pairs(rng: random.Random, n: int, base: int, n_test: int, n_train: int):
    """Length data version 2's sampler, kept so that its trials re-run on the same problems: distinct
    (test, train) pairs of two n-digit numbers. Where fewer pairs exist than asked for (short lengths),
    all of them are used and the test share gets at most half."""
    numbers = with_digits(n, base)
    pool = (numbers.stop - numbers.start) ** 2
    if pool <= 4 * (n_test + n_train):
        pairs = list(itertools.product(numbers, numbers))
        rng.shuffle(pairs)
        if pool < n_test + n_train and n_train:
            n_test = min(n_test, pool // 2)
        return pairs[:n_test], pairs[n_test:n_test + n_train]
    seen: set[tuple[int, int]] = set()
    out = []
    while len(out) < n_test + n_train:
        pair = (_pick(rng, numbers), _pick(rng, numbers))
        if pair not in seen:
            seen.add(pair)
            out.append(pair)
    return out[:n_test], out[n_test:]
