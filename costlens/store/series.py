"""Metric series in the store (table ``metrics``, revision 0007): the recorder's writes and the
one read every analysis uses.

Writes come as *ops* from :mod:`costlens.record.series` (through the journal like every other
record): ``{"run_id": str, "rank": int, "put": [[name, step, t_unix_s, value], ...],
"drop": [[name, step], ...]}``. Applying ops deletes every key they name, then inserts the
puts, in one transaction: applying them twice (a journal replayed after a crash) writes each
point once.

:func:`metric_series` reads points ordered by run, name and step. A run has one series per metric
name: when several ranks logged the same name (each by an explicit ``rank=``), the lowest rank's
series is the run's, so no point is counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import and_, delete, func, insert, select, tuple_

from costlens.store.db import Store
from costlens.store.models import MetricRow

__all__ = ["MetricPoint", "apply_metric_ops", "metric_names", "metric_series"]

_CHUNK = 500  # keys per DELETE (SQLite's bound-parameter limit is 32,766; 4 per key)


class MetricPoint(NamedTuple):
    """One point of a run's metric series: its value at a training step, logged at
    ``t_unix_s`` (seconds since the epoch, UTC)."""

    run_id: str
    name: str
    step: int
    t_unix_s: float
    value: float


def apply_metric_ops(store: Store, ops: Mapping[str, Any]) -> int:
    """Apply one rank's metric ops (see the module doc); returns the points inserted."""
    table = MetricRow.__table__
    run_id, rank = ops["run_id"], int(ops["rank"])
    puts: Sequence[Sequence[Any]] = ops.get("put") or []
    keys = [(str(k[0]), int(k[1])) for k in (ops.get("drop") or [])]
    keys += [(str(p[0]), int(p[1])) for p in puts]
    if not keys:
        return 0
    rows = {
        (str(p[0]), int(p[1])): {
            "run_id": run_id,
            "rank": rank,
            "name": str(p[0]),
            "step": int(p[1]),
            "t_unix_s": float(p[2]),
            "value": float(p[3]),
        }
        for p in puts
    }  # fmt: skip  (a key put twice in one batch: the later point)
    with store.engine.begin() as conn:
        for i in range(0, len(keys), _CHUNK):
            conn.execute(
                delete(table).where(
                    table.c.run_id == run_id,
                    table.c.rank == rank,
                    tuple_(table.c.name, table.c.step).in_(keys[i : i + _CHUNK]),
                )
            )
        if rows:
            conn.execute(insert(table), list(rows.values()))
    return len(rows)


def _first_rank(run_ids: Sequence[str], name: str | None) -> Any:
    """(run_id, name, lowest rank) of each series: the rank whose points are the run's."""
    t = MetricRow.__table__
    q = select(t.c.run_id, t.c.name, func.min(t.c.rank).label("rank")).where(
        t.c.run_id.in_(list(run_ids))
    )
    if name is not None:
        q = q.where(t.c.name == name)
    return q.group_by(t.c.run_id, t.c.name).subquery()


def metric_series(store: Store, run_ids: list[str], name: str | None = None) -> list[MetricPoint]:
    """The metric points of these runs (of one metric when ``name`` is given), ordered by run,
    name and step; each run's series of a name from one rank (the lowest that logged it)."""
    if not run_ids:
        return []
    t = MetricRow.__table__
    first = _first_rank(run_ids, name)
    q = (
        select(t.c.run_id, t.c.name, t.c.step, t.c.t_unix_s, t.c.value)
        .join(
            first,
            and_(t.c.run_id == first.c.run_id, t.c.name == first.c.name, t.c.rank == first.c.rank),
        )
        .order_by(t.c.run_id, t.c.name, t.c.step)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(q).all()
    return [MetricPoint(r[0], r[1], int(r[2]), float(r[3]), float(r[4])) for r in rows]


def metric_names(store: Store, run_ids: list[str]) -> list[str]:
    """The metric names these runs logged a series of, sorted."""
    if not run_ids:
        return []
    t = MetricRow.__table__
    q = select(t.c.name).where(t.c.run_id.in_(list(run_ids))).distinct().order_by(t.c.name)
    with store.engine.connect() as conn:
        return [r[0] for r in conn.execute(q)]
