"""costlens.core.fmt: the one formatter of money, quantities, durations and missing values."""

from __future__ import annotations

import math

import pytest

from costlens.core import fmt

NOT_A_NUMBER = [None, math.nan, math.inf, -math.inf, "x", True]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "$0"),
        (1.5e-05, "$0.000015"),
        (0.000123, "$0.00012"),
        (6.86e-6, "$0.0000069"),
        (1e-12, "$0.0000000000010"),
        (0.0025, "$0.0025"),
        (0.5, "$0.50"),
        (0.996, "$1.00"),  # rounds up into the next rule, not "$1.0"
        (1.5, "$1.50"),
        (12.345, "$12.35"),
        (99.996, "$100"),
        (778.4, "$778"),
        (5150, "$5,150"),
        (999_999.7, "$1.0M"),
        (1.2e6, "$1.2M"),
        (999.96e6, "$1.0B"),
        (3.4e10, "$34.0B"),
        (2e12, "$2.0T"),
        (1e16, "$10,000.0T"),
        (-899.66, "-$900"),
        (-0.0001, "-$0.00010"),
        (-1.2e6, "-$1.2M"),
    ],
)
def test_money(value, text):
    assert fmt.money(value) == text


POWERS = [m * 10.0**e for e in range(-15, 20) for m in (1, -1, 9.99, -9.99)]


@pytest.mark.parametrize("value", POWERS)
def test_money_is_never_scientific(value):
    text = fmt.money(value)
    assert "e" not in text.lower() and text.lstrip("-").startswith("$")


def test_money_significant_digits_below_one_dollar():
    assert fmt.money(0.12345, sig=3) == "$0.123"
    assert fmt.money(0.12345) == "$0.12"


@pytest.mark.parametrize("value", NOT_A_NUMBER)
def test_missing_values_have_one_marker_for_every_kind(value):
    for f in (fmt.money, fmt.count, fmt.flops, fmt.number, fmt.percent, fmt.duration):
        assert f(value) == fmt.MISSING == "n/a"
    assert fmt.interval(value, 1, 2) == fmt.MISSING
    assert fmt.span(value, 2) == fmt.MISSING


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (950, "950"), (999.7, "1k"), (1200, "1.2k"), (617_332, "617k"),
     (1.33e6, "1.33M"), (999_999, "1M"), (7e9, "7B"), (2e12, "2T"), (1e16, "10,000T"),
     (2.5, "2.5"), (-1200, "-1.2k")],
)  # fmt: skip
def test_counts_have_one_style(value, text):
    assert fmt.count(value) == text


def test_counts_side_by_side_read_alike():
    """The defect: ``1.33M`` beside ``617,332`` in one table."""
    assert [fmt.count(v) for v in (1.33e6, 617_332)] == ["1.33M", "617k"]


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.21e12, "1.21T"), (6e19, "60E"), (312e12, "312T"), (0, "0"), (1e27, "1,000Y")],
)
def test_flops(value, text):
    assert fmt.flops(value) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [(0, "", "0"), (0.00012345, "", "0.00012"), (12.345, "kWh", "12.3 kWh"), (1.5, "h", "1.5 h"),
     (999.96, "", "1,000"), (1_234_567.8, "", "1,234,568"), (-0.0001, "", "-0.0001"),
     (3e-9, "kg CO2e", "0.000000003 kg CO2e")],
)  # fmt: skip
def test_number(value, unit, text):
    assert fmt.number(value, unit) == text


def test_percent_and_duration():
    assert fmt.percent(0.873) == "87%"
    assert fmt.percent(0.12, signed=True) == "+12%"
    assert fmt.percent(0.1234, digits=1) == "12.3%"
    assert fmt.duration(19.47) == "19.5 s"
    assert fmt.duration(1017) == "16.9 min"
    assert fmt.duration(9000) == "2.5 h"
    assert fmt.duration(1e7) == "116 d"


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ((778, 469, 1670), "$778 (80%: $469 to $1,670)"),
        ((5000, 5000, 5000), "$5,000 (80%: $5,000 to $5,000)"),
        ((-200, -899.66, 1651), "-$200 (80%: -$900 to $1,651)"),
        ((3, None, 2), "$3.00"),
        ((1.5e-5, 1e-5, 2e-5), "$0.000015 (80%: $0.000010 to $0.000020)"),
    ],
)
def test_interval(args, text):
    assert fmt.interval(*args) == text


def test_an_interval_with_a_negative_bound_cannot_be_misread():
    """The defect: ``$-899.66-$1,651`` in a forecast what-if."""
    assert fmt.span(-899.66, 1651) == "-$900 to $1,651"
    assert fmt.interval(1.2e6, 0.9e6, 1.6e6, fmt.count, level=None) == "1.2M (900k to 1.6M)"
    assert fmt.interval_of({"x": 1, "x_low": 0.5, "x_high": 2}, "x", fmt.number) == (
        "1 (80%: 0.5 to 2)"
    )


def test_usd_ticks_label_every_tick_in_dollars():
    values, labels = fmt.usd_ticks(4e-6, 0.03, log=True)
    assert values[0] == pytest.approx(5e-6) and labels[0] == "$0.0000050"
    assert "$0.020" in labels and all(t.startswith("$") for t in labels)
    values, labels = fmt.usd_ticks(0, 5150)
    assert labels[:2] == ["$0", "$2,000"] and values[-1] >= 5150
    assert fmt.usd_ticks(0, 0) == ([], [])
    _, labels = fmt.usd_ticks(1e-9, 1e6, log=True)
    assert len(labels) <= 16 and not any("e" in t for t in labels)


def test_fmt_imports_nothing_heavy():
    import ast
    import inspect

    # standard library and costlens.core.units (itself standard library only)
    tree = ast.parse(inspect.getsource(fmt))
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert modules <= {"__future__", "math", "collections.abc", "typing", "costlens.core.units"}


def test_a_score_never_claims_a_threshold_it_did_not_reach():
    # the transfer page said "never reaches 95% ... best 0.95" for a best of 0.9496
    assert fmt.score(0.9496) == "0.94" and fmt.score(0.95) == "0.95"
    assert fmt.score(0.958) == "0.95" and fmt.score(1.0) == "1.00"
    assert fmt.score(None) == fmt.MISSING and fmt.score(float("nan")) == fmt.MISSING
