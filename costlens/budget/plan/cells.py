"""Parsers for one plan cell each: raw text (or a TOML/YAML/XLSX value) -> a typed value.

Every parser raises ``ValueError`` (``NumberError`` and ``UsageError`` included) with a message
the validator files under the cell's line and column. Numbers go through the one parser,
:func:`costlens.core.validate.quantity` (``7B``, ``1.3e9``, ``2,000``).
"""

from __future__ import annotations

import re
from typing import Any

from costlens.core import validate
from costlens.core.numbers import is_blank
from costlens.core.vocab import ESTIMABLE_STRATEGIES, normalize_precision, normalize_strategy

_MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})$", re.ASCII)
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f", ""}

blank = is_blank


def positive(value: Any, what: str) -> float:
    return validate.quantity(value, what, minimum=0.0, above=True)  # type: ignore[return-value]


def non_negative(value: Any, what: str) -> float:
    return validate.quantity(value, what, minimum=0.0)  # type: ignore[return-value]


def positive_int(value: Any, what: str) -> int:
    return int(validate.quantity(value, what, minimum=1.0, integer=True))  # type: ignore[arg-type]


def fraction(value: Any, what: str) -> float:
    out = positive(value, what)
    if out > 1:
        raise ValueError(f"{what} must be in (0, 1], got {value!r}")
    return out


def month(value: Any, what: str = "month") -> str:
    """``2027-01`` (or a date) -> ``"2027-01"``."""
    text = value.isoformat()[:7] if hasattr(value, "isoformat") else str(value).strip()
    m = _MONTH_RE.match(text)
    if not m:
        raise ValueError(f"expected a month as YYYY-MM, got {value!r}")
    year, mon = int(m.group(1)), int(m.group(2))
    if not 1 <= mon <= 12:
        raise ValueError(f"month {mon} of {text!r} is not 1-12")
    if not 1970 <= year <= 2200:
        raise ValueError(f"year {year} of {text!r} is not plausible")
    return f"{year:04d}-{mon:02d}"


def boolean(value: Any, what: str = "value") -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def text(value: Any, what: str = "value") -> str:
    """A name cell: not empty, no control characters (:func:`costlens.core.validate.name`)."""
    return validate.name(str(value), what)


def gpu_count(value: Any, what: str = "gpus") -> int:
    return validate.gpus(value, what)


def strategy(value: Any, what: str = "strategy") -> str:
    return normalize_strategy(str(value), allowed=ESTIMABLE_STRATEGIES)


def precision(value: Any, what: str = "precision") -> str:
    return normalize_precision(str(value))


# column -> parser of the columns whose parsing needs no price table
PARSERS = {
    "name": text,
    "month": month,
    "strategy": strategy,
    "params": positive,
    "tokens": positive,
    "gpus": gpu_count,
    "repeats": positive_int,
    "project": text,
    "samples": non_negative,
    "seq_len": positive,
    "packing": boolean,
    "epochs": positive,
    "instance": text,
    "spot": boolean,
    "trainable_fraction": fraction,
    "labelled_samples": non_negative,
    "usd_per_label": non_negative,
    "precision": precision,
    "transfer_tokens": positive,
}
