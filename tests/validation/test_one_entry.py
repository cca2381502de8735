"""One validation entry for numbers: plan cells, ``estimate`` flags and dashboard fields all
check a quantity with :func:`costlens.core.validate.quantity` (numbers.parse_quantity, a second
home with its own bounds code, is gone)."""

from __future__ import annotations

import pytest

from costlens.budget.plan import cells
from costlens.core import numbers, validate
from costlens.core.numbers import NumberError


def test_a_quantity_is_refused_the_same_way_by_every_reader():
    with pytest.raises(NumberError) as direct:
        validate.quantity("0", "tokens", above=True)
    with pytest.raises(NumberError) as cell:
        cells.positive("0", "tokens")
    assert str(direct.value) == str(cell.value) == "tokens must be greater than 0 (got '0')."
    with pytest.raises(NumberError, match=r"^tokens is required\.$"):
        validate.quantity(" ", "tokens")
    assert validate.quantity(float("nan"), "tokens", required=False) is None  # an empty cell
    assert validate.quantity("7B", "params") == 7e9
    assert not hasattr(numbers, "parse_quantity")


def test_every_number_error_is_a_number_error_and_an_input_error():
    for bad in ({"minimum": 1}, {"maximum": -1}, {"integer": True}):
        with pytest.raises(NumberError):
            validate.number("0.5", "x", **bad)
    with pytest.raises(validate.InputError):
        validate.number("nan", "x")
