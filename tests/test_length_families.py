"""The length families hold what their names say, checked by plain integer arithmetic here (digit
counts from the numbers' own base-b strings, carries column by column), on lengths 1..12 and 60."""

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseray.data.length_families import FAMILIES, draw, pool_size


def digits(x: int, base: int) -> int:
    return len(np.base_repr(x, base)) if x < 2**62 else len(_repr(x, base))


def _repr(x: int, base: int) -> str:
    out = ""
    while True:
        x, r = divmod(x, base)
        out = str(r) + out
        if not x:
            return out


def carries_everywhere(a: int, b: int, base: int, n: int) -> bool:
    """Column by column, least significant first: a carry leaves every one of the n places."""
    carry = 0
    for _ in range(n):
        s = a % base + b % base + carry
        carry = s // base
        if not carry:
            return False
        a, b = a // base, b // base
    return True


PROPERTY = {
    "equal": lambda a, b, n, base: digits(a, base) == digits(b, base) == n,
    "mixed": lambda a, b, n, base: max(digits(a, base), digits(b, base)) == n,
    "short_long": lambda a, b, n, base: max(digits(a, base), digits(b, base)) == n and min(a, b) < base ** 2,
    "carry": lambda a, b, n, base: max(digits(a, base), digits(b, base)) == n and carries_everywhere(a, b, base, n)
    and (a + b == base ** n or a == b == base ** n - 1),
    "zero": lambda a, b, n, base: max(digits(a, base), digits(b, base)) == n and 0 in (a, b),
}


@pytest.mark.parametrize("base", [10, 9])
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 12, 60])
def test_every_pair_is_of_its_family_and_distinct(family, n, base):
    seen = {(1, 1)}
    pairs = draw(family, n, base, 40, random.Random(n), seen)
    assert len(pairs) == len(set(pairs)) and (1, 1) not in pairs
    assert all(PROPERTY[family](a, b, n, base) for a, b in pairs), (family, n, pairs[:5])
    assert set(pairs) <= seen
    pool = {(a, b) for a in range(base ** n) for b in range(base ** n) if PROPERTY[family](a, b, n, base)} \
        if n <= 2 else None  # small lengths: the family's whole pool, by brute force
    if family == "short_long" and pool is not None:  # its pool: the long operand n digits, the other < base^2
        pool = {(a, b) for a, b in pool if (b if digits(a, base) == n else a) < (base if n <= 2 else base ** 2)}
    if pool is not None:
        assert pool_size(family, n, base) == len(pool)
        assert len(pairs) == min(40, len(pool - {(1, 1)}))
    else:
        assert len(pairs) == 40


def test_carry_chains_start_with_the_full_ones():
    pairs = draw("carry", 4, 10, 10, random.Random(0), set())
    assert pairs[:3] == [(9999, 1), (1, 9999), (9999, 9999)]
    assert all(a + b == 10**4 for a, b in pairs if (a, b) != (9999, 9999))


def test_mixed_covers_every_length_of_the_short_operand_and_both_orders():
    pairs = draw("mixed", 6, 10, 600, random.Random(1), set())
    shorts = {min(len(str(a)), len(str(b))) for a, b in pairs}
    assert shorts == set(range(1, 7))
    assert any(len(str(a)) < len(str(b)) for a, b in pairs) and any(len(str(a)) > len(str(b)) for a, b in pairs)


def test_short_pools_are_listed_whole():
    assert sorted(draw("equal", 1, 10, 1000, random.Random(0), set())) == [(a, b) for a in range(10) for b in range(10)]
    assert len(draw("zero", 1, 10, 1000, random.Random(0), set())) == 19  # (0, x), (x, 0), x in 0..9


@given(st.integers(0, 2**32), st.sampled_from(FAMILIES), st.integers(1, 30))
def test_same_seed_same_pairs(seed, family, n):
    assert draw(family, n, 10, 8, random.Random(seed), set()) == draw(family, n, 10, 8, random.Random(seed), set())
