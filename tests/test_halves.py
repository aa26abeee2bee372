"""The "rule or case?" table: length generalization and Leave-Square-Out per model configuration,
from synthetic records with planted outcomes."""

import numpy as np

from caseray.data.splits import SplitSpec
from caseray.report.halves import configuration, halves_rows, halves_table
from caseray.trial.control import control_spec
from synthetic import length_record, record


def _square_and_control(tokenizer, seed, hole):
    square = record(tokenizer=tokenizer, seed=seed, hole=hole, split=SplitSpec(center=(10, 10), half_width=3))
    c = control_spec(square.spec)
    control = record(tokenizer=c.tokenizer, split=c.split, seed=c.seed, accuracy=lambda a, b, s: np.ones(len(a)))
    return [square, control]


def test_one_row_per_configuration_with_both_halves():
    lengths = [length_record(fmt="direct", scale="tiny", seed=s, at=lambda n: 1.0 if n <= 10 else 0.5)
               for s in (0, 1, 2)]
    squares = [r for s in (0, 1, 2) for r in _square_and_control("digit", s, hole=1)]
    squares += [r for s in (0, 1, 2) for r in _square_and_control("number", s, hole=-1)]
    rows = {row[0]: row for row in halves_rows(lengths + squares)}
    digit = configuration(lengths[0].spec)
    assert digit == "direct, digit, tiny, learned positions" and set(rows) == {digit, "direct, number, tiny, learned "
                                                                              "positions"}
    # exact at L = 5 and 2L = 10 is 1, at 3L = 15 it is 0.5; the digit squares fail rings 0-1: depth 1
    assert rows[digit][1:5] == ["1-5", "1.00 ± 0.00 [1.00, 1.00]", "1.00 ± 0.00 [1.00, 1.00]",
                                "0.50 ± 0.00 [0.50, 0.50]"]
    assert rows[digit][5].startswith("1.00 ± 0.00") and rows[digit][7] == "1 positions, h=3"
    number = rows["direct, number, tiny, learned positions"]
    assert number[2] == "-" and number[5].startswith("0.00 ± 0.00")  # no length trial; no hole
    assert "| configuration |" in halves_table(lengths + squares)
    assert halves_table(lengths) is None  # one half alone: no table
