"""The hole atlas: where on the grid does a held-out square of one size leave a hole?

Squares of one half-width slide over a lattice of centres covering the whole grid -- the diagonal
a = b, the anti-diagonal corners, the edges, the middle. Each trial holds out one square per row and
column of the lattice (a Latin arrangement: lattice cell (i, 2i + k mod n) in trial k), so every
trial has exactly one square on the diagonal and no off-diagonal square whose mirror (b, a) is held
out with it; the n trials of a seed cover every lattice cell once. Each trial has its paired
random-split control of the same size (``controls: true``). ``caseray report`` draws hole depth by
centre (the atlas) and against the distance to the diagonal |a0 - b0|.

The ``fold`` preset asks the explanations in docs/FINDINGS.md ("Why the diagonal") directly, with
regions (``split.kind: region``): a diagonal square with the band |a - b| <= 1 kept in training, a
diagonal band alone, and the two anti-diagonal corner squares held out together (each the other's
mirror).

    python sweeps/hole_atlas.py --preset quick     # 2 CPU cores: 36 trials
    python sweeps/hole_atlas.py --preset fold      # 2 CPU cores: 18 trials
    ray job submit --working-dir . -- python sweeps/hole_atlas.py --preset full
"""

from caseray.presets.hardware import on_gpus


def lattice(low: int, high: int, n: int, h: int) -> list[int]:
    """``n`` centre coordinates spread evenly over [low + h, high - h] (squares of half-width h inside)."""
    lo, hi = low + h, high - h
    return [round(lo + i * (hi - lo) / (n - 1)) for i in range(n)]


def latin_splits(low: int, high: int, n: int, h: int, max_test_fraction: float = 0.3) -> list[dict]:
    """``n`` ``squares`` splits covering the n x n lattice once: split k holds lattice cells
    (i, (2i + k) mod n) -- one per row and column (n odd), exactly one on the diagonal (i = -k mod n),
    never a square together with its mirror (that needs 3(i - j) = 0 mod n: n not a multiple of 3)."""
    if n % 2 == 0 or n % 3 == 0:
        raise ValueError(f"n = {n}: the Latin arrangement needs n odd and not a multiple of 3")
    xs = lattice(low, high, n, h)
    return [{"kind": "squares", "squares": [[xs[i], xs[(2 * i + k) % n], h] for i in range(n)],
             "max_test_fraction": max_test_fraction} for k in range(n)]


def fold_splits(low: int, high: int, h: int) -> list[dict]:
    """The fold explanation's decisive hold-outs on [low, high]: the middle diagonal square minus the
    band |a - b| <= 1, a diagonal band |a - b| <= 1 alone over the middle half, the two anti-diagonal
    corner squares together."""
    mid, lo, hi = (low + high) // 2, low + h, high - h
    quarter = (high - low) // 4
    return [{"kind": "region", "hold": [{"square": [mid, mid, h]}], "keep": [{"band": {"offset": 0, "width": 1}}]},
            {"kind": "region", "hold": [{"band": {"offset": 0, "width": 1,
                                                  "a_range": [low + quarter, high - quarter]}}]},
            {"kind": "squares", "squares": [[lo, hi, h], [hi, lo, h]]}]


_TINY = {"model": {"scale": "tiny"}, "format": "direct", "save_model": False,
         "train": {"steps": 1000, "lr": 3e-3, "batch_size": 128, "log_every": 250}}

PRESETS = {
    "quick": dict(  # 2 CPU cores: addition 0-49, h = 4 (number tokens hole on the diagonal there, r* ~ 2),
        # a 5 x 5 lattice (centres 4..45), number and digit tokens, 3 seeds: 30 trials + 6 controls
        name="atlas-quick", controls=True,
        base={"task": {"name": "addition", "high": 49}, **_TINY},
        axes={"split": latin_splits(0, 49, 5, 4), "tokenizer": ["number", "digit"], "seed": [0, 1, 2]}),
    "fold": dict(  # 2 CPU cores: the fold explanation's hold-outs, number tokens, 3 seeds: 9 trials + 9 controls
        name="atlas-fold", controls=True,
        base={"task": {"name": "addition", "high": 49}, "tokenizer": "number", **_TINY},
        axes={"split": fold_splits(0, 49, 4), "seed": [0, 1, 2]}),
    "full": on_gpus(dict(  # a GPU cluster: the paper's 0-99 grid, a 7 x 7 lattice at h = 4 and 7, two tasks
        name="atlas-full", controls=True,
        base={"format": "direct", "train": {"steps": 20000, "lr": 1e-3, "batch_size": 128,
                                            "checkpoint_every": 2000, "log_every": 500}},
        axes=[{"task.name": ["addition", "base9_addition"], "split": latin_splits(0, 99, 7, h),
               "tokenizer": ["number", "digit"], "model.scale": ["small"], "seed": [0, 1, 2]} for h in (4, 7)]),
        scales=["small"]),
}
