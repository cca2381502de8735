"""Numbers as text for people: pure functions shared by pages and figures."""

from __future__ import annotations

import math


def _small_digits(value: float, digits: int) -> int:
    """Decimals that keep two significant digits of a value that ``digits`` would show as 0."""
    if value == 0 or abs(value) >= 10**-digits:
        return digits
    return max(digits, -math.floor(math.log10(abs(value))) + 1)


def money(value: float | None, digits: int = 2) -> str:
    """US$ text ("-" when unknown); small amounts keep two significant digits ($0.0000056)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{_small_digits(value, digits)}f}"


def number(value: float | None, fmt: str = ",.1f", suffix: str = "") -> str:
    """A number as text with a unit suffix ("-" when unknown); a small non-zero value that the
    format would show as 0 keeps two significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:{fmt}}"
    if value and float(text.replace(",", "")) == 0:
        text = f"{value:.2g}"
    return f"{text}{suffix}"
