"""Reads the dashboard needs beyond :mod:`costlens.store.queries`: the runs table's filtered,
sorted and paged select, distinct filter values, and transfer projects.

Every function returns public run records (:func:`costlens.store.queries.run_record`) or plain
values; filters go through :func:`~costlens.store.queries.select_runs`, the one home of the
"lost" rule, so a filter and a page count agree with the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, select

from costlens.core.errors import UsageError
from costlens.core.vocab import SCRATCH
from costlens.store.db import Store
from costlens.store.models import Run
from costlens.store.queries import run_record, select_runs, utcnow

# Sort keys of runs_page: record keys (and "device": name, then count).
SORT_KEYS: tuple[str, ...] = (
    "id", "name", "project", "status", "strategy", "started_at", "duration_s", "device",
)  # fmt: skip


def distinct_values(store: Store, key: str) -> list[str]:
    """The distinct non-empty values of a run column (``project`` or ``strategy``), sorted."""
    if key not in ("project", "strategy"):
        raise UsageError(f"distinct_values: {key!r} is not project or strategy.")
    col = Run.__table__.c[key]
    with store.engine.connect() as conn:
        return sorted(v for (v,) in conn.execute(select(col).distinct()) if v)


def uses_accelerators(store: Store) -> bool:
    """True when any recorded run used an accelerator (a device count above 0)."""
    with store.engine.connect() as conn:
        return bool(conn.execute(select(func.max(Run.__table__.c.device_count))).scalar())


def _order_columns(store: Store, key: str) -> list[Any]:
    table = Run.__table__
    if key == "duration_s":
        end = func.coalesce(table.c.ended_at, table.c.heartbeat_at)
        if store.dialect == "postgresql":
            return [func.extract("epoch", end - table.c.started_at)]
        return [func.julianday(end) - func.julianday(table.c.started_at)]
    if key == "device":
        return [table.c.device_name, table.c.device_count]
    return [table.c[key]]


def runs_page(
    store: Store,
    *,
    project: str | None = None,
    status: str | None = None,
    strategy: str | None = None,
    order: Sequence[tuple[str, bool]] = (),
    limit: int = 25,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """(records of one page, total matching runs): filtered, sorted and paged in SQL.

    ``order`` holds (key of :data:`SORT_KEYS`, descending) pairs; newest first breaks ties.
    """
    now = utcnow()
    stmt = select_runs(project=project, status=status, strategy=strategy, now=now)
    table = Run.__table__
    cols = []
    for key, descending in order:
        if key not in SORT_KEYS:
            raise UsageError(f"cannot sort runs by {key!r}; choose one of {', '.join(SORT_KEYS)}.")
        cols += [c.desc() if descending else c.asc() for c in _order_columns(store, key)]
    cols += [table.c.started_at.desc(), table.c.id]
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(stmt.subquery())).scalar() or 0
        rows = conn.execute(stmt.order_by(*cols).limit(limit).offset(max(offset, 0)))
        records = [run_record(dict(r._mapping), now) for r in rows]
    return records, int(total)


def transfer_projects(store: Store, transfer_strategies: Sequence[str]) -> list[str]:
    """Projects with at least one completed scratch run and one completed run of a strategy in
    ``transfer_strategies``, sorted."""
    table = Run.__table__
    is_scratch = func.sum(case((table.c.strategy == SCRATCH, 1), else_=0))
    is_transfer = func.sum(case((table.c.strategy.in_(list(transfer_strategies)), 1), else_=0))
    stmt = (
        select(table.c.project)
        .where(table.c.status == "completed")
        .group_by(table.c.project)
        .having(is_scratch > 0, is_transfer > 0)
        .order_by(table.c.project)
    )
    with store.engine.connect() as conn:
        return [p for (p,) in conn.execute(stmt)]
