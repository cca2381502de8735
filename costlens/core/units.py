"""Units and conversions, defined once. Names carry their unit (``energy_j``, ``duration_s``)."""

from __future__ import annotations

import contextlib
import math
import sys
from typing import Any

J_PER_KWH = 3.6e6
MJ_PER_J = 1e3  # millijoules per joule (the store keeps energy as integer mJ)
UJ_PER_J = 1_000_000.0  # RAPL counters are in microjoules
MW_PER_W = 1e3  # milliwatts per watt (NVML reports power in mW)
W_PER_KW = 1e3
S_PER_H = 3600.0
BYTES_PER_GIB = float(1 << 30)
TFLOPS = 1e12  # FLOP/s per TFLOP/s (spec tables list peaks in TFLOP/s)


def finite_or_none(value: Any) -> float | None:
    """A finite float, or None for None, NaN, +-inf and non-numbers (pandas NA included)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def json_ready(value: Any) -> Any:
    """``value`` made fit for strict JSON (``allow_nan=False``): the one JSON cleaner (CLI output,
    forecast files, a run's metrics on the hot path). It never raises. The rule:

    - text, whole numbers, booleans, None and finite floats stay as they are;
    - NaN, +-inf and pandas' NaT/NA become None;
    - dicts (keys as text), lists, tuples and sets are cleaned item by item (sets as lists);
    - numpy and torch scalars become Python numbers (``.item()``), then follow this rule;
    - dates and times become ISO text (``.isoformat()``);
    - anything else becomes ``str(value)`` (an unknown object never stops a run or a command).
    """
    try:
        return _json_ready(value)
    except Exception:  # a hostile __str__/item()/isoformat(): the text of its type instead
        return f"<{type(value).__name__}>"


def _json_ready(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None  # numpy's float64 as a float
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_ready(v) for v in value]
    pandas = sys.modules.get("pandas")
    if pandas is not None and (value is pandas.NaT or value is pandas.NA):
        return None
    if hasattr(value, "item"):  # numpy / torch scalars (an array of several: its text)
        with contextlib.suppress(Exception):
            out = value.item()
            if type(out) is not type(value):
                return json_ready(out)
    if hasattr(value, "isoformat"):
        with contextlib.suppress(Exception):
            return str(value.isoformat())
    return str(value)
