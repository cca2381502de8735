"""Units and conversions, defined once. Names carry their unit (``energy_j``, ``duration_s``)."""

from __future__ import annotations

import contextlib
import math
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
    """``value`` with numpy scalars unwrapped, NaN/inf as None and dates as ISO text (for JSON)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
