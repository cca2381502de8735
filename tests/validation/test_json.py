"""One JSON cleaner (``costlens.core.units.json_ready``) with one rule, used by the CLI's JSON
output, the forecast files and a run's metrics; it never raises."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from costlens.cli.common import dumps_json
from costlens.core.units import json_ready


class _Hostile:
    def __str__(self) -> str:
        raise RuntimeError("no text")

    def item(self) -> float:
        raise RuntimeError("no item")


def test_the_one_rule():
    value = {
        1: np.float64(1.5),
        "nan": float("nan"),
        "inf": np.float32("inf"),
        "n": np.int64(7),
        "flag": np.bool_(True),
        "when": datetime(2026, 1, 2, 3, 4, 5),
        "day": date(2026, 1, 2),
        "nat": pd.NaT,
        "na": pd.NA,
        "both": (1, {2}),
        "path": Path("/tmp/x"),
        "money": Decimal("1.25"),
        "array": np.array([1.0, 2.0]),
        "odd": _Hostile(),
    }
    out = json_ready(value)
    assert out == {
        "1": 1.5,
        "nan": None,
        "inf": None,
        "n": 7,
        "flag": True,
        "when": "2026-01-02T03:04:05",
        "day": "2026-01-02",
        "nat": None,
        "na": None,
        "both": [1, [2]],
        "path": "/tmp/x",
        "money": "1.25",
        "array": "[1. 2.]",
        "odd": "<_Hostile>",
    }
    assert type(out["1"]) is float and type(out["n"]) is int
    json.dumps(out, allow_nan=False)  # strict JSON


def test_cli_json_output_writes_nan_and_unknown_objects_instead_of_failing():
    """dumps_json raised ValueError on NaN (allow_nan=False) and TypeError on a Path."""
    text = dumps_json([{"cost_usd": float("nan"), "where": Path("/tmp/x"), "n": np.int64(2)}])
    assert json.loads(text) == [{"cost_usd": None, "where": "/tmp/x", "n": 2}]


def test_run_metrics_keep_dates_as_iso_text(tmp_path):
    """The run's metrics had their own cleaner, which wrote a date as `2026-01-02 03:04:05`."""
    import costlens
    from costlens.store import OpenMode, open_store
    from costlens.store.queries import list_runs

    db = f"sqlite:///{tmp_path / 'runs.db'}"
    with costlens.profile(project="json", db=db, quiet=True) as run:
        run.log(at=datetime(2026, 1, 2, 3, 4, 5), loss=np.float32(0.5))
    with open_store(db, OpenMode.READ) as store:
        (rec,) = list_runs(store)
    assert rec["metrics"] == {"at": "2026-01-02T03:04:05", "loss": 0.5}
