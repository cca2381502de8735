"""The shape of a journal record, checked before anything is replayed into a store.

A journal line is one JSON object: ``{"k": "run", "v": {...}, "owner": bool}``,
``{"k": "samples", "rows": [[...], ...]}``, ``{"k": "rank", "v": {...}}`` or
``{"k": "update", "run_id": str, "v": {...}}`` or ``{"k": "metrics", "run_id": str, "rank": int,
"put": [[name, step, t_unix_s, value], ...], "drop": [[name, step], ...]}``. :func:`check_record`
returns what is wrong with one (a short phrase) or None; values are checked against the store's
columns, so a foreign or hand-edited file never reaches SQL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

DATETIME_KEYS = ("started_at", "ended_at", "heartbeat_at", "updated_at")
_RANK_INT_KEYS = ("rank", "steps", "samples", "tokens", "tokens_real")


def _columns() -> tuple[frozenset[str], frozenset[str], int]:
    from costlens.store.models import SAMPLE_COLUMNS, Run, RunRank

    return (
        frozenset(Run.__table__.columns.keys()),
        frozenset(RunRank.__table__.columns.keys()),
        len(SAMPLE_COLUMNS),
    )


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _check_values(values: Any, allowed: frozenset[str]) -> str | None:
    if not isinstance(values, Mapping) or not values:
        return "values are not an object"
    unknown = [k for k in values if k not in allowed]
    if unknown:
        return f"unknown column {unknown[0]!r}"
    for key in DATETIME_KEYS:
        raw = values.get(key)
        if raw is None:
            continue
        try:
            datetime.fromisoformat(raw)
        except (TypeError, ValueError):
            return f"{key} is not a date and time"
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            return f"{key} is not finite"
    return None


def _check_row(row: Any, width: int) -> str | None:
    if not isinstance(row, list) or len(row) != width:
        return f"a sample row is not a list of {width} values"
    if not isinstance(row[0], str) or not row[0]:
        return "a sample row has no run id"
    if not _is_number(row[1]) or not isinstance(row[2], int) or not isinstance(row[3], int):
        return "a sample row has no time, node or device"
    if any(v is not None and not _is_number(v) for v in row[4:]):
        return "a sample row has a value that is not a finite number"
    return None


def _check_metrics(rec: Mapping[str, Any]) -> str | None:
    if not isinstance(rec.get("run_id"), str) or not rec["run_id"]:
        return "metric points without a run id"
    if not isinstance(rec.get("rank"), int) or isinstance(rec["rank"], bool):
        return "metric points without a rank"
    puts, drops = rec.get("put", []), rec.get("drop", [])
    if not isinstance(puts, list) or not isinstance(drops, list):
        return "metric points are not lists"
    for p in puts:
        if not (isinstance(p, list) and len(p) == 4 and _is_key(p) and _is_number(p[2])):
            return "a metric point is not [name, step, time, value]"
        if not _is_number(p[3]):
            return "a metric point has a value that is not a finite number"
    if not all(isinstance(d, list) and len(d) == 2 and _is_key(d) for d in drops):
        return "a dropped metric point is not [name, step]"
    return None


def _is_key(point: list[Any]) -> bool:
    name, step = point[0], point[1]
    return (
        isinstance(name, str) and 0 < len(name) <= 200
        and isinstance(step, int) and not isinstance(step, bool)
        and abs(step) < 2**63
    )  # fmt: skip


def check_record(rec: Any) -> str | None:
    """What is wrong with one decoded journal line, or None when it can be replayed."""
    if not isinstance(rec, Mapping):
        return "not a JSON object"
    run_cols, rank_cols, width = _columns()
    kind = rec.get("k")
    if kind == "run":
        v = rec.get("v")
        problem = _check_values(v, run_cols)
        if problem is None and not (isinstance(v.get("id"), str) and v["id"]):
            problem = "a run record has no id"
        return problem
    if kind == "samples":
        rows = rec.get("rows")
        if not isinstance(rows, list):
            return "samples without rows"
        return next((p for p in (_check_row(r, width) for r in rows) if p), None)
    if kind == "rank":
        v = rec.get("v")
        problem = _check_values(v, rank_cols)
        if problem is None and not isinstance(v.get("run_id"), str):
            problem = "a rank record has no run id"
        if problem is None and not all(isinstance(v.get(k, 0), int) for k in _RANK_INT_KEYS):
            problem = "a rank record has counts that are not whole numbers"
        return problem
    if kind == "metrics":
        return _check_metrics(rec)
    if kind == "update":
        if not isinstance(rec.get("run_id"), str) or not rec["run_id"]:
            return "an update without a run id"
        return _check_values(rec.get("v"), run_cols)
    return f"unknown record kind {kind!r}"
