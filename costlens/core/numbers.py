"""One parser for numbers as people write them: ``7B``, ``2T``, ``4k``, ``1.3e9``, ``2,000``.

The CLI, plan files and the dashboard all read quantities through
:func:`costlens.core.validate.quantity` (which parses with :func:`parse_number`), so ``--params 7B``
means the same everywhere. Non-finite values (``nan``, ``inf``) are always refused.
"""

from __future__ import annotations

import math
import re
from typing import Any

from costlens.core.errors import InputError

SUFFIXES: dict[str, float] = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
# ASCII digits only (``٣`` is not 3); commas only as thousands groups (``1,2,3`` is not 123);
# underscores between digits (``1_000``); at most 400 characters (a 5000-digit integer is refused
# before any conversion).
_NUMBER_RE = re.compile(
    r"^\s*([-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+(?:_\d+)*)(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"\s*([kKmMbBgGtT]?)\s*$",
    re.ASCII,
)
MAX_NUMBER_CHARS = 400


class NumberError(InputError):
    """A value that is not a number of the kind asked for (the message says which)."""


def parse_number(value: Any, what: str = "value") -> float:
    """A finite float from ``value`` (number or text with an optional k/M/B/T suffix)."""
    if isinstance(value, bool):
        raise NumberError(f"{what}: expected a number, got {value!r}.")
    if isinstance(value, (int, float)):
        try:
            out = float(value)
        except OverflowError:  # an int beyond a float's range (a 5000-digit YAML integer)
            raise NumberError(
                f"{what}: a number of about {int(value.bit_length() * 0.30103) + 1} digits is "
                "beyond any plausible value."
            ) from None
    else:
        text = str(value)
        if len(text) > MAX_NUMBER_CHARS:
            raise NumberError(f"{what}: a {len(text)}-character value is not a number.")
        m = _NUMBER_RE.match(text)
        if not m:
            raise NumberError(
                f"{what}: expected a number (e.g. 7B, 1.5e9, 125M, 2,000), got {value!r}."
            )
        out = float(m.group(1).replace(",", "").replace("_", ""))
        out *= SUFFIXES.get(m.group(2).lower(), 1.0)
    if not math.isfinite(out):
        raise NumberError(f"{what} must be a finite number (got {value!r}).")
    return out


def is_blank(value: Any) -> bool:
    """None, an empty or all-space string, or a float NaN (an empty spreadsheet cell)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and math.isnan(value)
