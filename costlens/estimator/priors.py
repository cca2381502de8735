"""The dated prior table ``data/mfu_priors.csv``: typical MFU per accelerator family, measured
FLOP/s for CPUs, default trainable shares; read, validated and looked up (most specific row)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costlens.core.errors import CostlensError, DataTableError

if TYPE_CHECKING:
    import pandas as pd

PRIORS_FILE = "mfu_priors.csv"
PRIOR_COLUMNS = ("kind", "key", "precision", "value", "low", "high", "source", "as_of")
PRIOR_KINDS = ("mfu", "flops_per_s", "trainable_fraction")


def priors_path() -> Path:
    """The shipped prior table (``data/mfu_priors.csv``)."""
    try:
        from costlens.core.paths import data_dir

        return data_dir() / PRIORS_FILE
    except CostlensError:
        return Path(__file__).resolve().parent.parent.parent / "data" / PRIORS_FILE


def load_priors(path: str | Path | None = None) -> pd.DataFrame:
    """The prior table, validated (DataTableError names the line and column of a bad cell)."""
    import pandas as pd

    p = Path(path) if path else priors_path()
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in PRIOR_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataTableError(f"missing columns {', '.join(missing)}", path=str(p), line=1)
            rows = [_validated_row(row, str(p), i) for i, row in enumerate(reader, start=2)]
    except OSError as exc:
        raise DataTableError(f"cannot read the prior table: {exc.strerror}", path=str(p)) from exc
    return pd.DataFrame(rows, columns=[*PRIOR_COLUMNS, "note"])


def _validated_row(row: dict[str, Any], path: str, line: int) -> dict[str, Any]:
    """One prior row with value/low/high as floats; DataTableError for a bad cell."""
    if row["kind"] not in PRIOR_KINDS:
        raise DataTableError(
            f"kind must be one of {', '.join(PRIOR_KINDS)}", path=path, line=line, column="kind"
        )
    vals = {}
    for col in ("value", "low", "high"):
        try:
            vals[col] = float(row[col])
        except (TypeError, ValueError):
            raise DataTableError(
                f"{row[col]!r} is not a number", path=path, line=line, column=col
            ) from None
        if not vals[col] > 0:
            raise DataTableError("must be positive", path=path, line=line, column=col)
    if not vals["low"] <= vals["value"] <= vals["high"]:
        raise DataTableError("need low <= value <= high", path=path, line=line, column="value")
    for col in ("source", "as_of"):
        if not (row.get(col) or "").strip():
            raise DataTableError("is empty", path=path, line=line, column=col)
    return {**row, **vals}


def prior_row(priors: pd.DataFrame, kind: str, key: str, precision: str) -> pd.Series | None:
    """The most specific row of ``kind`` for accelerator ``key`` (longest key prefix, then an
    exact precision over ``*``); None when no row matches."""
    sub = priors[priors["kind"] == kind]
    best, best_rank = None, (-1, -1)
    for _, row in sub.iterrows():
        k = row["key"]
        if k != "*" and not key.startswith(k):
            continue
        if row["precision"] not in ("*", precision):
            continue
        rank = (0 if k == "*" else len(k), 1 if row["precision"] == precision else 0)
        if rank > best_rank:
            best, best_rank = row, rank
    return best


def default_trainable_fraction(strategy: str, priors: pd.DataFrame | None = None) -> float | None:
    """The prior table's default trainable share for ``lora`` / ``frozen-features``."""
    if strategy not in ("lora", "frozen-features"):
        return None
    row = prior_row(
        priors if priors is not None else load_priors(), "trainable_fraction", strategy, "*"
    )
    return None if row is None else float(row["value"])
