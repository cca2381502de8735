"""Run fields for people: links, Markdown escapes, device labels, and numbers rounded for a
numeric cell. Money, quantities, durations and missing values as text: costlens.core.fmt."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from costlens.core.units import finite_or_none


def _small_digits(value: float, digits: int) -> int:
    """Decimals that keep two significant digits of a value that ``digits`` would show as 0."""
    if value == 0 or abs(value) >= 10**-digits:
        return digits
    return max(digits, -math.floor(math.log10(abs(value))) + 1)


def rounded(value: Any, digits: int = 2) -> float | None:
    """``value`` rounded to ``digits`` decimals, or to two significant digits when those
    decimals would show a non-zero value as 0 (a $0.0000056 CPU run is not free); None for
    None, NaN and non-numbers."""
    f = finite_or_none(value)
    if f is None:
        return None
    return round(f, _small_digits(f, digits) if f else digits)


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
