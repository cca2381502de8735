"""Numbers and run fields as text for people: pure functions shared by views, pages and
figures."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from costlens.core.units import S_PER_H, finite_or_none


def _small_digits(value: float, digits: int) -> int:
    """Decimals that keep two significant digits of a value that ``digits`` would show as 0."""
    if value == 0 or abs(value) >= 10**-digits:
        return digits
    return max(digits, -math.floor(math.log10(abs(value))) + 1)


def money(value: float | None, digits: int = 2) -> str:
    """US$ text ("-" when unknown); small amounts keep two significant digits ($0.0000056)."""
    value = finite_or_none(value)
    if value is None:
        return "-"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{_small_digits(value, digits)}f}"


def number(value: float | None, fmt: str = ",.1f", suffix: str = "") -> str:
    """A number as text with a unit suffix ("-" when unknown); a small non-zero value that the
    format would show as 0 keeps two significant digits."""
    value = finite_or_none(value)
    if value is None:
        return "-"
    text = f"{value:{fmt}}"
    if value and float(text.replace(",", "")) == 0:
        text = f"{value:.2g}"
    return f"{text}{suffix}"


def rounded(value: Any, digits: int = 2) -> float | None:
    """``value`` rounded to ``digits`` decimals, or to two significant digits when those
    decimals would show a non-zero value as 0 (a $0.0000056 CPU run is not free); None for
    None, NaN and non-numbers."""
    f = finite_or_none(value)
    if f is None:
        return None
    return round(f, _small_digits(f, digits) if f else digits)


# Durations are shown in one unit chosen by size, everywhere: (largest span in s, unit, s per unit).
DURATION_UNITS: tuple[tuple[float, str, float], ...] = (
    (120.0, "s", 1.0),
    (2 * S_PER_H, "min", 60.0),
    (72 * S_PER_H, "h", S_PER_H),
    (float("inf"), "d", 24 * S_PER_H),
)


def duration_unit(seconds: float) -> tuple[str, float]:
    """(unit name, seconds per unit) for a duration or a time axis spanning ``seconds``."""
    for limit, unit, per in DURATION_UNITS:
        if abs(seconds) < limit:
            return unit, per
    return DURATION_UNITS[-1][1], DURATION_UNITS[-1][2]


def duration_text(duration_s: Any) -> str:
    """A duration in s, min, h or d chosen by its size, three significant digits ("-" unknown):
    19.47 s stays "19.5 s"; 16.95 min is "17.0 min"; never "0.01 h"."""
    f = finite_or_none(duration_s)
    if f is None:
        return "-"
    unit, per = duration_unit(f)
    value = f / per
    return f"{value:,.1f} {unit}" if abs(value) < 100 else f"{value:,.0f} {unit}"


def num_text(value: Any, fmt: str, suffix: str = "") -> str:
    f = rounded(value, 12)
    return "-" if f is None else f"{f:{fmt}}{suffix}"


def interval_text(r: dict[str, Any], key: str, fmt: str) -> str:
    """``r[key]`` with its ``_low`` to ``_high`` interval in brackets ("-" when unknown)."""
    mid, lo, hi = r.get(key), r.get(f"{key}_low"), r.get(f"{key}_high")
    if mid is None:
        return "-"
    if lo is None or hi is None:
        return fmt.format(mid)
    return f"{fmt.format(mid)} ({fmt.format(lo)} to {fmt.format(hi)})"


def run_link(run_id: str) -> str:
    """The dashboard path of a run's page."""
    return f"/runs/{quote(run_id, safe='')}"


def md_escape(value: str) -> str:
    """Text with every Markdown punctuation character escaped."""
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!<>|~" else ch for ch in value)


def device_label(rec: dict[str, Any]) -> str:
    """``2 x NVIDIA A100-SXM4-80GB``, or ``CPU`` for a host-only run."""
    count = int(rec.get("device_count") or 0)
    name = rec.get("device") or ""
    if not count or not name:
        return "CPU"
    return f"{count} x {name}"
