"""Fast writes: telemetry samples in bulk, runs upserted, journal replays written once.

The ORM costs about 8,000 rows/s; this path goes to the driver directly (``executemany`` on
SQLite, ``COPY`` on PostgreSQL). See ``benchmarks/ingest.py`` and BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, insert, or_, update
from sqlalchemy.exc import IntegrityError

from costlens.store.db import Store
from costlens.store.models import SAMPLE_COLUMNS, Run, RunRank, run_column_defaults

SampleRow = Sequence[Any]  # values in SAMPLE_COLUMNS order

_COLS = ", ".join(SAMPLE_COLUMNS)
_SQLITE_INSERT = f"INSERT INTO samples ({_COLS}) VALUES ({', '.join('?' for _ in SAMPLE_COLUMNS)})"
_PG_COPY = f"COPY samples ({_COLS}) FROM STDIN"
# Run columns a run header written again never overwrites (progress and outcome come later).
RUN_PROGRESS_KEYS = frozenset(
    {"id", "status", "steps", "samples", "tokens", "flops", "ended_at", "heartbeat_at"}
    | {"exit_code", "metrics_json"}
)


def insert_samples(store: Store, rows: Sequence[SampleRow]) -> int:
    """Insert telemetry rows (tuples in :data:`SAMPLE_COLUMNS` order) in one transaction."""
    if not rows:
        return 0
    dialect = store.dialect
    raw = store.engine.raw_connection()
    try:
        if dialect == "sqlite":
            cur = raw.cursor()
            cur.executemany(_SQLITE_INSERT, rows)
            cur.close()
        elif dialect == "postgresql":
            cur = raw.cursor()
            with cur.copy(_PG_COPY) as copy:
                for row in rows:
                    copy.write_row(row)
            cur.close()
        else:  # any other SQLAlchemy dialect: Core executemany
            raw.close()
            with store.engine.begin() as conn:
                conn.execute(
                    insert(_samples_table()),
                    [dict(zip(SAMPLE_COLUMNS, r, strict=True)) for r in rows],
                )
            return len(rows)
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
    return len(rows)


def _samples_table():
    from costlens.store.models import Sample

    return Sample.__table__


def insert_run(store: Store, values: Mapping[str, Any]) -> None:
    """Insert a new run row (``values`` are :class:`Run` column names)."""
    with store.engine.begin() as conn:
        conn.execute(insert(Run.__table__).values(**_defaults(values)))


#: Columns that only move forward when a journal is replayed (counts, the heartbeat): a replay
#: from the start, stopped half-way (a full disk, Ctrl-C), never leaves a run with fewer steps.
FORWARD_ONLY_KEYS = frozenset(
    {"steps", "samples", "tokens", "tokens_real", "flops", "steady_flops", "steady_s"}
    | {"heartbeat_at", "updated_at"}
)


def _forward(table: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with each :data:`FORWARD_ONLY_KEYS` column set to the larger of the stored
    value and the new one (a plain value never lowers it; None keeps what is stored)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in FORWARD_ONLY_KEYS:
            out[key] = value
        elif isinstance(value, (int, float, datetime)):
            col = table.c[key]
            out[key] = case((or_(col.is_(None), col < value), value), else_=col)
        elif value is not None:  # an SQL expression (the sums over ranks): already forward
            out[key] = value
    return out


def update_run(
    store: Store, run_id: str, values: Mapping[str, Any], *, forward_only: bool = False
) -> int:
    """Update columns of a run (never its id); returns the number of rows changed (0: no such
    run). ``forward_only`` (journal replay): counts and the heartbeat never move back."""
    values = {k: v for k, v in values.items() if k != "id"}
    if not values:
        return 0
    table = Run.__table__
    if forward_only:
        values = _forward(table, values)
    with store.engine.begin() as conn:
        res = conn.execute(update(table).where(table.c.id == run_id).values(**values))
        return res.rowcount or 0


def upsert_rank(store: Store, values: Mapping[str, Any], *, forward_only: bool = False) -> None:
    """Insert or replace one rank's progress of a run; ``forward_only`` (journal replay): its
    counts never move back."""
    table = RunRank.__table__
    key = {k: values[k] for k in ("run_id", "rank")}
    changes = {k: v for k, v in values.items() if k not in key}
    if forward_only:
        changes = _forward(table, changes)
    with store.engine.begin() as conn:
        res = conn.execute(
            update(table)
            .where(table.c.run_id == key["run_id"], table.c.rank == key["rank"])
            .values(**changes)
        )
        if not res.rowcount:
            conn.execute(insert(table).values(**values))


def ensure_run(store: Store, values: Mapping[str, Any], *, update_facts: bool) -> None:
    """Insert a run row; when it exists already (another rank, a restart) and ``update_facts``,
    update its facts only, never its progress or status (:data:`RUN_PROGRESS_KEYS`)."""
    try:
        insert_run(store, values)
    except IntegrityError:
        if update_facts:
            update_run_facts(store, values["id"], values)


def update_run_facts(store: Store, run_id: str, values: Mapping[str, Any]) -> int:
    """Update a run's facts from a run header, leaving out :data:`RUN_PROGRESS_KEYS`."""
    return update_run(
        store, run_id, {k: v for k, v in values.items() if k not in RUN_PROGRESS_KEYS}
    )


def replace_samples(store: Store, rows: Sequence[SampleRow]) -> None:
    """Insert rows once: rows with the same (run, node, device, time) are deleted first."""
    if not rows:
        return
    groups: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        groups.setdefault((r[0], r[2]), []).append(r[1])
    table = _samples_table()
    with store.engine.begin() as conn:
        for (run_id, node_rank), times in groups.items():
            conn.execute(
                delete(table).where(
                    table.c.run_id == run_id,
                    table.c.node_rank == node_rank,
                    table.c.t_unix_s >= min(times),
                    table.c.t_unix_s <= max(times),
                )
            )
    insert_samples(store, [tuple(r) for r in rows])


def _defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """Fill the NOT NULL columns a caller may leave out (their defaults in :class:`Run`)."""
    return {**run_column_defaults(), **values}
