"""The shape of a journal record, checked against bounds before anything is replayed into a store.

A journal line is one JSON object: ``{"k": "run", "v": {...}, "owner": bool, "store": str}``
(``store``: the masked URL of the store the run was recorded for, on the first record),
``{"k": "samples", "rows": [[...], ...]}``, ``{"k": "rank", "v": {...}}`` or
``{"k": "update", "run_id": str, "v": {...}}`` or ``{"k": "metrics", "run_id": str, "rank": int,
"put": [[name, step, t_unix_s, value], ...], "drop": [[name, step], ...]}``. :func:`check_record`
returns what is wrong with one (a short phrase) or None. Every value is checked against its store
column (type, 64-bit range, finite, text length, counts not negative, dates), so a foreign or
hand-edited line is refused here, never by SQL; :func:`record_run_id` names the run a record
writes to, so a journal file writes to its own run only and never changes a run's id.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

DATETIME_KEYS = ("started_at", "ended_at", "heartbeat_at", "updated_at")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
TEXT_MAX_CHARS = 1_000_000  # a Text column's value (metrics, command line, inferred facts)
#: Columns that count or measure something: never negative.
NOT_NEGATIVE = frozenset(
    {"steps", "samples", "tokens", "tokens_real", "flops", "flops_per_step", "params_total"}
    | {"params_trainable", "device_count", "energy_j", "cpu_energy_j", "steady_flops"}
    | {"steady_s", "world_size", "host_cpu_count", "host_ram_total_bytes", "expected_steps"}
    | {"rank", "mem_used_bytes", "mem_total_bytes", "power_w", "energy_mj", "gpu_util_pct"}
)
#: Keys a record may never change on a stored run (the row's identity).
IDENTITY_KEYS = frozenset({"id"})


@functools.cache
def _tables() -> dict[str, Any]:
    from costlens.store.models import Run, RunRank, Sample

    return {"run": Run.__table__, "rank": RunRank.__table__, "sample": Sample.__table__}


@functools.cache
def sample_columns() -> tuple[str, ...]:
    from costlens.store.models import SAMPLE_COLUMNS

    return tuple(SAMPLE_COLUMNS)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_value(key: str, value: Any, column: Any) -> str | None:
    """What is wrong with ``value`` for store ``column`` (named ``key``), or None."""
    from sqlalchemy import DateTime, Float, Integer, String

    if value is None:
        return None if column.nullable else f"{key} is empty"
    kind = column.type
    if isinstance(kind, DateTime):
        try:
            datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return f"{key} is not a date and time"
        return None
    if isinstance(kind, (Integer, Float)):
        if not _is_number(value) or (isinstance(kind, Integer) and not isinstance(value, int)):
            return f"{key} is not a {'whole ' if isinstance(kind, Integer) else ''}number"
        small = type(kind) is Integer  # 32 bits on PostgreSQL (BigInteger: 64)
        low, high = (INT32_MIN, INT32_MAX) if small else (INT64_MIN, INT64_MAX)
        if isinstance(value, int) and not low <= value <= high:
            return f"{key} is out of range ({len(str(abs(value)))} digits)"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{key} is not finite"
        if key in NOT_NEGATIVE and value < 0:
            return f"{key} is negative"
        return None
    if isinstance(kind, String):  # Text and AutoString are Strings too
        if not isinstance(value, str):
            return f"{key} is not text"
        limit = kind.length or TEXT_MAX_CHARS
        if len(value) > limit:
            return f"{key} is longer than {limit} characters"
    return None


def check_values(values: Any, table: str, *, identity: bool = True) -> str | None:
    """What is wrong with a record's ``{column: value}`` for store table ``table`` (``run``,
    ``rank``, ``sample``), or None; ``identity=False``: it may not name the row's id."""
    if not isinstance(values, Mapping) or not values:
        return "values are not an object"
    columns = _tables()[table].columns
    for key, value in values.items():
        if key not in columns:
            return f"unknown column {key!r}"
        if not identity and key in IDENTITY_KEYS:
            return f"a record may not change a run's {key}"
        problem = check_value(key, value, columns[key])
        if problem:
            return problem
    return None


def _check_row(row: Any) -> str | None:
    names = sample_columns()
    if not isinstance(row, list) or len(row) != len(names):
        return f"a sample row is not a list of {len(names)} values"
    values = dict(zip(names, row, strict=True))
    if not isinstance(values["run_id"], str) or not values["run_id"]:
        return "a sample row has no run id"
    if any(values[k] is None for k in ("t_unix_s", "node_rank", "device_index")):
        return "a sample row has no time, node or device"
    return check_values(values, "sample")


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
    kind = rec.get("k")
    v = rec.get("v")
    if kind == "run":
        problem = check_values(v, "run")
        if problem is None and not (isinstance(v.get("id"), str) and v["id"]):
            problem = "a run record has no id"
        if problem is None and not isinstance(rec.get("store", ""), str):
            problem = "the store a run record names is not text"
        return problem
    if kind == "samples":
        rows = rec.get("rows")
        if not isinstance(rows, list):
            return "samples without rows"
        return next((p for p in map(_check_row, rows) if p), None)
    if kind == "rank":
        problem = check_values(v, "rank")
        if problem is None and not (isinstance(v.get("run_id"), str) and v["run_id"]):
            problem = "a rank record has no run id"
        if problem is None and not isinstance(v.get("rank"), int):
            problem = "a rank record has no rank"
        return problem
    if kind == "metrics":
        return _check_metrics(rec)
    if kind == "update":
        if not isinstance(rec.get("run_id"), str) or not rec["run_id"]:
            return "an update without a run id"
        return check_values(v, "run", identity=False)
    return f"unknown record kind {kind!r}"


def record_run_ids(rec: Mapping[str, Any]) -> set[str]:
    """The runs a checked record writes to (one, except a samples record of several runs)."""
    kind = rec.get("k")
    if kind == "run":
        return {rec["v"]["id"]}
    if kind == "samples":
        return {row[0] for row in rec["rows"]}
    if kind == "rank":
        return {rec["v"]["run_id"]}
    if kind in ("update", "metrics"):
        return {rec["run_id"]}
    return set()
