import numpy as np
import pytest
from conftest import TASK_NAMES
from hypothesis import given
from hypothesis import strategies as st

from caseray.core.errors import SpecError
from caseray.core.specs import from_dict
from caseray.data.tasks import TaskSpec, build_task, to_base
from helpers import draw_cell


@pytest.mark.parametrize("name,cells", [("addition", 10_000), ("mod_addition", 12_769), ("base9_addition", 10_000),
                                        ("linear", 10_000), ("chicken_rabbit", 5_050)])
def test_grid_sizes_match_the_paper(name, cells):
    a, b = build_task(name).cells()
    assert len(a) == cells
    assert len(set(zip(a.tolist(), b.tolist()))) == cells


def test_addition_on_a_bigger_grid():
    task = build_task(TaskSpec("addition", high=999))
    a, b = task.cells()
    assert len(a) == 1000 * 1000 and task.answer(999, 998) == "1997"


@given(st.integers(0, 10**30), st.integers(2, 10))
def test_to_base_round_trips(n, base):
    assert int(to_base(n, base), base) == n


@given(st.data())
def test_answers_are_arithmetically_right(data):
    for name in TASK_NAMES:
        task = build_task(name)
        a, b = draw_cell(task, data)
        ans = task.answer(a, b)
        assert isinstance(ans, str)
        if name == "addition":
            assert int(ans) == a + b
        elif name == "base9_addition":
            assert int(ans, 9) == a + b and task.question(a, b) == f"{to_base(a, 9)}+{to_base(b, 9)}="
        elif name == "mod_addition":
            assert int(ans) == (a + b) % 113
        elif name == "linear":
            assert int(ans) == a + 2 * b + 3
        else:  # chicken & rabbit: a = legs / 2, b = heads
            rabbits, chickens = map(int, ans.split(","))
            assert rabbits >= 0 and chickens >= 0
            assert rabbits + chickens == b and 4 * rabbits + 2 * chickens == 2 * a


def test_chicken_rabbit_cells_are_the_valid_pairs():
    a, b = build_task("chicken_rabbit").cells()
    assert np.all((b <= a) & (a <= 2 * b))
    assert a.max() == 198 and b.max() == 99


@pytest.mark.parametrize("data,field", [
    ({"name": "multiplication"}, "task.name"),
    ({"name": "addition", "modulus": 7}, "task.modulus"),
    ({"name": "addition", "low": -1}, "task.low"),
    ({"name": "addition", "high": 9.5}, "task.high"),
    ({"name": "addition", "low": 50, "high": 10}, "task.high"),
    ({"name": "base9_addition", "base": 16}, "task.base"),
    ({"name": "addition", "colour": "red"}, "task.colour"),
])
def test_bad_task_specs_name_the_field(data, field):
    with pytest.raises(SpecError) as err:
        from_dict(TaskSpec, data, "task")
    assert err.value.field == field
    if field == "task.name":
        assert "addition" in str(err.value) and "chicken_rabbit" in str(err.value)
