"""The JSON layout: ``Forecast.as_dict()`` as one object (NaN written as null)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from costlens.core.atomicio import atomic_path
from costlens.core.units import json_ready

if TYPE_CHECKING:  # pragma: no cover
    from costlens.budget.forecast import Forecast


def to_json(fc: Forecast) -> str:
    """The forecast as one JSON object (NaN written as null)."""
    return json.dumps(json_ready(fc.as_dict()), indent=2, allow_nan=False)


def write_json(fc: Forecast, path: str | Path) -> Path:
    """Write ``fc`` as JSON to ``path`` (atomically)."""
    text = to_json(fc)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)
