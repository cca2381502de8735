"""THE formatter: money, quantities, durations and missing values as text for people.

Every figure a user reads twice (CLI tables and sections, the live line, the demo, the dashboard)
comes through here, so a number looks the same everywhere. Pure functions of the standard library
(imported by the hot path's live line). JSON, CSV and XLSX keep raw numbers: this is for text.

Rules (one style per kind):

- Missing (None, NaN, +-inf, non-numbers): :data:`MISSING` (``n/a``), for every kind.
- Money (:func:`money`), US$, never in scientific notation, the sign before the ``$``:
  ``|x| >= 1e6``: one decimal with M, B or T (``$1.2M``, ``$34.0B``);
  ``|x| >= 100``: grouped whole dollars (``$778``, ``$5,150``);
  ``|x| >= 1``: two decimals (``$1.50``, ``$12.34``);
  below $1: two significant digits (``$0.50``, ``$0.0025``, ``$0.00012``; ``sig`` changes it,
  e.g. 3 for a price per kWh); zero: ``$0``; negative: ``-$900`` (-899.66).
- Counts of things (:func:`count`: steps, samples, tokens, parameters): whole below 1,000
  (``950``), above it three significant digits with k, M, B or T (``617k``, ``1.33M``, ``2T``):
  never ``1.33M`` beside ``617,332``.
- FLOPs and FLOP/s (:func:`flops`): three significant digits with k, M, G, T, P, E, Z, Y
  (``1.21T``, ``60E``).
- Measured quantities (:func:`number`: GPU-hours, kWh, kg CO2e, GiB, ROI): grouped whole at
  1,000 and above (``1,234``), three significant digits from 1 (``12.3``, ``1.5``), two below 1
  (``0.0012``), never scientific; an optional unit after a space (``3.2 kWh``).
- Percentages (:func:`percent`) of a fraction: ``87%``.
- Durations (:func:`duration`): one unit chosen by size (s, min, h, d), three significant digits.
- Intervals (:func:`interval`, :func:`span`): ``$778 (80%: $469 to $1,670)`` and
  ``-$900 to $1,651``: the bounds are joined by "to", never by a dash a minus could be read into.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from costlens.core.units import finite_or_none

MISSING = "n/a"  # the one text for an unknown figure (None, NaN, inf), whatever its kind

S_PER_MIN = 60.0
S_PER_H = 3600.0
S_PER_D = 86400.0
# Durations are shown in one unit chosen by size: (largest span in s, unit, s per unit).
DURATION_UNITS: tuple[tuple[float, str, float], ...] = (
    (120.0, "s", 1.0),
    (2 * S_PER_H, "min", S_PER_MIN),
    (72 * S_PER_H, "h", S_PER_H),
    (math.inf, "d", S_PER_D),
)
_MONEY_UNITS = ((1e12, "T"), (1e9, "B"), (1e6, "M"))
_COUNT_UNITS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))
_FLOP_UNITS = tuple((10.0 ** (3 * i), p) for i, p in reversed(list(enumerate("kMGTPEZY", 1))))


finite = finite_or_none  # ``value`` as a finite float; None for None, NaN, +-inf, non-numbers


def _significant(a: float, sig: int) -> str:
    """``a`` (>= 0, < 1000 once rounded) with ``sig`` significant digits in fixed notation."""
    if a == 0:
        return "0"
    decimals = max(0, sig - 1 - math.floor(math.log10(a)))
    return f"{a:.{decimals}f}"


def _trim(text: str) -> str:
    """``1.50`` -> ``1.5``, ``2.00`` -> ``2`` (only after a decimal point)."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def _compact(a: float, units: tuple[tuple[float, str], ...], sig: int = 3) -> str:
    """``a`` (>= 0) rounded to ``sig`` significant digits, then written with the largest unit it
    reaches (``617k``, ``1.33M``; 999,999 is ``1M``), trailing zeros dropped; below the smallest
    unit whole (``950``) or with ``sig`` significant digits (``2.5``)."""
    if a == 0:
        return "0"
    a = float(f"{a:.{sig}g}")
    for scale, suffix in units:
        if a >= scale:
            scaled = a / scale
            text = f"{scaled:,.0f}" if scaled >= 1000 else _trim(_significant(scaled, sig))
            return f"{text}{suffix}"
    return f"{a:.0f}" if a == int(a) else _trim(_significant(a, sig))


def money(value: Any, *, sig: int = 2) -> str:
    """US$ as text (see the module's rules): ``$0.00012``, ``$1.50``, ``$778``, ``$1.2M``,
    ``-$900``; :data:`MISSING` when unknown. ``sig``: significant digits below $1."""
    v = finite(value)
    if v is None:
        return MISSING
    a = abs(v)
    text = _money_abs(a, sig)
    return f"-{text}" if v < 0 and any(c in "123456789" for c in text) else text


def _money_abs(a: float, sig: int) -> str:
    if a < 1:
        if a == 0:
            return "$0"
        text = _significant(a, sig)
        if float(text) < 1:
            return f"${text}"
        a = 1.0
    if a < 100 and round(a, 2) < 100:
        return f"${a:,.2f}"
    if a < 1e6 and round(a) < 1e6:
        return f"${a:,.0f}"
    for i, (scale, suffix) in enumerate(_MONEY_UNITS):
        if a >= scale or (i == len(_MONEY_UNITS) - 1):
            scaled = round(a / scale, 1)
            if scaled >= 1000 and i:  # $999.96M is $1.0B
                scale, suffix = _MONEY_UNITS[i - 1]
                scaled = a / scale
            return f"${scaled:,.1f}{suffix}"
    raise AssertionError("unreachable")  # pragma: no cover


def count(value: Any) -> str:
    """A count of things (steps, samples, tokens, parameters): ``950``, ``617k``, ``1.33M``,
    ``2T``; a fraction below 1,000 keeps three significant digits (``2.5``)."""
    v = finite(value)
    if v is None:
        return MISSING
    return ("-" if v < 0 else "") + _compact(abs(v), _COUNT_UNITS)


def flops(value: Any) -> str:
    """FLOPs or FLOP/s: ``1.21T``, ``60E``, ``312T`` (SI prefixes, three significant digits)."""
    v = finite(value)
    if v is None:
        return MISSING
    return ("-" if v < 0 else "") + _compact(abs(v), _FLOP_UNITS)


def number(value: Any, unit: str = "", *, sig: int = 3) -> str:
    """A measured quantity (GPU-hours, kWh, kg CO2e, GiB, a ratio): ``1,234``, ``12.3``,
    ``1.5``, ``0.0012`` (``sig`` significant digits below 1,000, two below 1; never
    scientific), then `` unit`` when given; :data:`MISSING` when unknown."""
    v = finite(value)
    if v is None:
        return MISSING
    a = abs(v)
    text = _trim(_significant(a, sig if a >= 1 else min(sig, 2))) if a < 1000 else ""
    if not text or float(text) >= 1000:
        text = f"{a:,.0f}"
    sign = "-" if v < 0 and text.strip("0.") else ""
    return f"{sign}{text} {unit}" if unit else f"{sign}{text}"


def score(value: Any, *, digits: int = 2) -> str:
    """A metric reached (accuracy 0.9496 -> ``0.94``), rounded down, so that a value written
    never claims a threshold the run did not reach ("best 0.95" for 0.9496 under a 0.95 target)."""
    v = finite(value)
    if v is None:
        return MISSING
    scale = 10**digits
    return f"{math.floor(v * scale + 1e-9) / scale:.{digits}f}"


def percent(fraction: Any, *, digits: int = 0, signed: bool = False) -> str:
    """A fraction as a percentage: 0.873 -> ``87%`` (``digits`` decimals; ``signed``: ``+12%``)."""
    v = finite(fraction)
    if v is None:
        return MISSING
    return f"{100 * v:{'+' if signed else ''}.{digits}f}%"


def duration_unit(seconds: float) -> tuple[str, float]:
    """(unit name, seconds per unit) for a duration or a time axis spanning ``seconds``."""
    for limit, unit, per in DURATION_UNITS:
        if abs(seconds) < limit:
            return unit, per
    return DURATION_UNITS[-1][1], DURATION_UNITS[-1][2]


def duration(seconds: Any) -> str:
    """A duration in s, min, h or d chosen by its size: ``19.5 s``, ``17.0 min``, ``2.5 h``,
    ``120 d`` (never ``0.01 h``); :data:`MISSING` when unknown."""
    f = finite(seconds)
    if f is None:
        return MISSING
    unit, per = duration_unit(f)
    value = f / per
    return f"{value:,.1f} {unit}" if abs(value) < 100 else f"{value:,.0f} {unit}"


def span(low: Any, high: Any, fmt: Callable[[Any], str] = money) -> str:
    """``low to high`` (``-$900 to $1,651``); :data:`MISSING` when either bound is unknown."""
    if finite(low) is None or finite(high) is None:
        return MISSING
    return f"{fmt(low)} to {fmt(high)}"


def interval(
    mid: Any,
    low: Any,
    high: Any,
    fmt: Callable[[Any], str] = money,
    *,
    level: float | None = 0.8,
) -> str:
    """A value with its interval: ``$778 (80%: $469 to $1,670)`` (``level`` None: no
    percentage); the value alone when a bound is unknown; :data:`MISSING` when it is."""
    if finite(mid) is None:
        return MISSING
    if finite(low) is None or finite(high) is None:
        return fmt(mid)
    head = f"{level:.0%}: " if level is not None else ""
    return f"{fmt(mid)} ({head}{span(low, high, fmt)})"


def interval_of(record: Any, key: str, fmt: Callable[[Any], str] = money, **kw: Any) -> str:
    """:func:`interval` of ``record[key]`` and its ``key_low``/``key_high``."""
    return interval(record.get(key), record.get(f"{key}_low"), record.get(f"{key}_high"), fmt, **kw)


def usd_ticks(low: float, high: float, *, log: bool = False) -> tuple[list[float], list[str]]:
    """Tick values and their US$ labels for a dollar axis from ``low`` to ``high``: 1-2-5 steps
    on a log axis (each labelled in US$, not "2" and "5"), about five round steps on a linear
    one; labels by :func:`money`, so an axis never shows SI prefixes or scientific notation."""
    lo, hi = finite(low), finite(high)
    if lo is None or hi is None or hi <= 0:
        return [], []
    if log:
        lo = max(lo, hi * 1e-12) if lo > 0 else hi * 1e-3
        values = [
            m * 10.0**e
            for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
            for m in (1, 2, 5)
            if lo <= m * 10.0**e <= hi
        ]
        if len(values) > 12:  # a wide range: powers of ten only
            values = [v for v in values if f"{v:.0e}".startswith("1")]
    else:
        lo = min(lo, 0.0)
        raw = (hi - lo) / 5
        mag = 10.0 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
        first = math.floor(lo / step)
        values = [round(i * step, 12) for i in range(first, math.ceil(hi / step) + 1)]
    return values, [money(v) for v in values]


# OWASP's CSV-injection rule: a cell starting with one of these is read as a formula by a
# spreadsheet (tab and carriage return too, which some spreadsheets strip before reading).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: Any) -> Any:
    """A value for a CSV cell that a spreadsheet never runs: text starting like a formula gets a
    leading ``'`` (shown as text, the rest unchanged); anything else (numbers included) is
    returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
