"""Reads. Every function returns plain data (DataFrames or dicts); aggregation and downsampling of
telemetry happen in SQL so no caller ever loads all samples of a run into memory.

pandas is imported only by the functions that return a DataFrame: a run record (``get_run``,
``list_runs``) is read without it, so a training process can price its own run (the live cost
line) and still load no analysis library.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, func, not_, or_, select, text
from sqlalchemy.sql import ColumnElement, Select

from costlens.core.errors import InputError, RunNotFoundError, UsageError
from costlens.core.units import finite_or_none
from costlens.core.validate import env_number, interval_s
from costlens.core.vocab import RUN_STATUSES
from costlens.store.db import Store
from costlens.store.models import Run

if TYPE_CHECKING:
    import pandas as pd

# A run whose heartbeat is older than this while it says "running" was killed (SIGKILL, power loss).
# The recorder beats every 5 s; COSTLENS_LOST_AFTER_S changes the threshold (tests, slow links).
# A bad value is refused by every command (costlens.core.validate.check_environment); a library
# import never fails on it, it keeps the default.
try:
    LOST_AFTER_S = env_number("COSTLENS_LOST_AFTER_S", 60.0, interval_s)
except InputError:
    LOST_AFTER_S = 60.0

# The stable keys of `costlens runs --format json` (other tools parse them: only add, never rename).
RUN_KEYS: tuple[str, ...] = (
    "id",
    "project",
    "name",
    "status",
    "strategy",
    "started_at",
    "ended_at",
    "duration_s",
    "steps",
    "samples",
    "tokens",
    "flops",
    "params_total",
    "params_trainable",
    "device",
    "device_count",
    "world_size",
    "precision",
    "base_model",
    "tags",
    "host",
    "user",
    "command",
    "exit_code",
    "energy_j",
    "energy_source",
    "flops_per_step",
    "instance_type",
    "provider",
    "heartbeat_at",
    "host_cpu_count",
    "host_ram_total_bytes",
    "cpu_energy_j",
    "cpu_energy_basis",
    "region",
    "metrics",
    "expected_steps",
    "stop_reason",
    "steady_flops",
    "steady_s",
)


def utcnow() -> datetime:
    """Naive UTC now (the store keeps naive UTC datetimes, portable across dialects)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _iso(value: Any) -> str | None:
    value = _as_dt(value)
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- the lost rule, defined once
# A run is lost when it says "running" and its heartbeat is older than LOST_AFTER_S (or it was
# stored as lost by mark_lost_runs). Records, listings and mark_lost_runs all use lost_cutoff.


def lost_cutoff(now: datetime) -> datetime:
    """Heartbeats before this (naive UTC) are stale."""
    return now - timedelta(seconds=LOST_AFTER_S)


def effective_status(status: str, heartbeat: datetime | None, now: datetime) -> str:
    """The status a run shows: ``lost`` for a ``running`` run with a stale heartbeat."""
    stale = heartbeat is not None and heartbeat < lost_cutoff(now)
    return "lost" if status == "running" and stale else status


def _running_and_stale(now: datetime) -> ColumnElement[bool]:
    """SQL twin of effective_status's test: a ``running`` row with a stale heartbeat."""
    table = Run.__table__
    hb = table.c.heartbeat_at
    return and_(table.c.status == "running", hb.is_not(None), hb < lost_cutoff(now))


def status_clause(status: str, now: datetime) -> ColumnElement[bool]:
    """SQL condition on ``runs`` for runs whose :func:`effective_status` is ``status``."""
    table = Run.__table__
    stale = _running_and_stale(now)
    if status == "running":
        return and_(table.c.status == "running", not_(stale))
    if status == "lost":
        return or_(table.c.status == "lost", stale)
    return table.c.status == status


def _is_missing(value: Any) -> bool:
    """None, NaN, or pandas' NaT (which exists only once pandas is loaded)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    pandas = sys.modules.get("pandas")
    return pandas is not None and value is pandas.NaT


def _as_dt(value: Any) -> datetime | None:
    if _is_missing(value):
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        return value.to_pydatetime()
    return value


def run_record(row: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A raw ``runs`` row -> the public record (stable keys, ISO times, effective status)."""
    now = now or utcnow()
    started = _as_dt(row["started_at"])
    ended = _as_dt(row.get("ended_at"))
    heartbeat = _as_dt(row.get("heartbeat_at"))
    status = effective_status(row["status"], heartbeat, now)
    end_for_duration = ended or heartbeat or (now if status == "running" else None)
    duration_s = (end_for_duration - started).total_seconds() if end_for_duration else None
    rec = {
        "id": row["id"],
        "project": row["project"],
        "name": row["name"],
        "status": status,
        "strategy": row["strategy"],
        "started_at": _iso(started),
        "ended_at": _iso(ended),
        "duration_s": round(duration_s, 3) if duration_s is not None else None,
        "steps": int(row["steps"] or 0),
        "samples": int(row["samples"] or 0),
        "tokens": int(row["tokens"] or 0),
        "tokens_real": int(row.get("tokens_real") or 0),
        "flops": float(row["flops"] or 0.0),
        "params_total": _int_or_none(row.get("params_total")),
        "params_trainable": _int_or_none(row.get("params_trainable")),
        "device": row.get("device_name"),
        "device_count": int(row.get("device_count") or 0),
        "world_size": int(row.get("world_size") or 1),
        "precision": row.get("precision"),
        "base_model": row.get("base_model"),
        "tags": json.loads(row.get("tags_json") or "[]"),
        "host": row.get("host"),
        "user": row.get("user"),
        "command": row.get("command"),
        "exit_code": _int_or_none(row.get("exit_code")),
        "energy_j": _float_or_none(row.get("energy_j")),
        "energy_source": row.get("energy_source"),
        "flops_per_step": _float_or_none(row.get("flops_per_step")),
        "instance_type": row.get("instance_type"),
        "provider": row.get("provider"),
        "heartbeat_at": _iso(heartbeat),
        "host_cpu_count": _int_or_none(row.get("host_cpu_count")),
        "host_ram_total_bytes": _int_or_none(row.get("host_ram_total_bytes")),
        "cpu_energy_j": _float_or_none(row.get("cpu_energy_j")),
        "cpu_energy_basis": row.get("cpu_energy_basis"),
        "region": row.get("region"),
        "metrics": json.loads(row.get("metrics_json") or "{}"),
        "expected_steps": _int_or_none(row.get("expected_steps")),
        "launcher": row.get("launcher"),
        "job_id": row.get("job_id"),
        "job_partition": row.get("job_partition"),
        "stop_reason": row.get("stop_reason"),
        "steady_flops": _float_or_none(row.get("steady_flops")),
        "steady_s": _float_or_none(row.get("steady_s")),
    }
    inferred = json.loads(row.get("inferred_json") or "{}")
    rec["strategy_basis"] = _basis(inferred.get("strategy"), row["strategy"], "other")
    rec["base_model_basis"] = _basis(inferred.get("base_model"), row.get("base_model"), None)
    return rec


def _basis(inferred: dict | None, value: Any, unset: Any) -> str | None:
    """Where a strategy or base model came from: inferred (with its basis) or declared."""
    if inferred and inferred.get("value") == value:
        return f"inferred: {inferred.get('basis')}"
    if inferred:
        return f"declared (inferred {inferred.get('value')!r}: {inferred.get('basis')})"
    return None if value == unset else "declared"


def _int_or_none(v: Any) -> int | None:
    f = finite_or_none(v)
    return None if f is None else int(f)


def _float_or_none(v: Any) -> float | None:
    return finite_or_none(v)


def select_runs(
    *,
    project: str | None = None,
    status: str | None = None,
    strategy: str | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
) -> Select:
    """A select of ``runs`` rows matching the filters (bound parameters; the status is the
    effective one, see :func:`status_clause`), unordered. ``since``: started at or after it."""
    if status is not None and status not in RUN_STATUSES:
        raise UsageError(f"unknown status {status!r}; choose one of {', '.join(RUN_STATUSES)}.")
    table = Run.__table__
    stmt = select(table)
    if project:
        stmt = stmt.where(table.c.project == project)
    if strategy:
        stmt = stmt.where(table.c.strategy == strategy)
    if since is not None:
        stmt = stmt.where(table.c.started_at >= bindparam("since", since))
    if status:
        stmt = stmt.where(status_clause(status, now or utcnow()))
    return stmt


def list_runs(
    store: Store,
    *,
    project: str | None = None,
    status: str | None = None,
    strategy: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Runs, newest first, as public records (see :data:`RUN_KEYS`): the one run listing."""
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1.")
    now = utcnow()
    table = Run.__table__
    stmt = select_runs(project=project, status=status, strategy=strategy, since=since, now=now)
    stmt = stmt.order_by(table.c.started_at.desc(), table.c.id)
    if limit:
        stmt = stmt.limit(limit)
    with store.engine.connect() as conn:
        return [run_record(dict(r._mapping), now) for r in conn.execute(stmt)]


def runs_frame(store: Store, **filters: Any) -> pd.DataFrame:
    """:func:`list_runs` as a DataFrame (columns :data:`RUN_KEYS`)."""
    import pandas as pd

    return pd.DataFrame(list_runs(store, **filters), columns=list(RUN_KEYS))


def get_run(store: Store, run_id: str) -> dict[str, Any]:
    """One run by its id or a unique prefix of it."""
    if not run_id:
        raise UsageError("a run id is required.")
    table = Run.__table__
    with store.engine.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                # a prefix match with % and _ escaped: `show %` matches no run but one named %
                select(table).where(table.c.id.startswith(run_id, autoescape=True)).limit(2)
            )
        ]
    exact = [r for r in rows if r["id"] == run_id]
    if exact:
        rows = exact
    if not rows:
        raise RunNotFoundError(f"no run with id {run_id!r}; `costlens runs` lists them.")
    if len(rows) > 1:
        raise RunNotFoundError(f"run id prefix {run_id!r} is ambiguous; give more characters.")
    return run_record(rows[0])


def count_runs(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Run.__table__)).scalar() or 0)


def count_samples(store: Store, run_id: str | None = None) -> int:
    sql = "SELECT COUNT(*) FROM samples" + (" WHERE run_id = :r" if run_id else "")
    with store.engine.connect() as conn:
        return int(conn.execute(text(sql), {"r": run_id} if run_id else {}).scalar() or 0)


def mark_lost_runs(store: Store, now: datetime | None = None) -> int:
    """Persist status ``lost`` for running runs whose heartbeat went stale; returns how many."""
    table = Run.__table__
    with store.engine.begin() as conn:
        stale = _running_and_stale(now or utcnow())
        res = conn.execute(table.update().where(stale).values(status="lost"))
        return res.rowcount or 0
