"""The fleet's read: every run a team's Prometheus needs in one indexed query.

``costlens exporter`` (:mod:`costlens.apps.fleet`) calls :func:`fleet_runs` once per scrape
interval: the runs still ``running`` (index ``ix_runs_status``) or started since ``since``
(index on ``started_at``), with the columns that price them and no more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from costlens.store.db import Store
from costlens.store.models import Run
from costlens.store.queries import _as_dt, effective_status

FLEET_COLUMNS = (
    "id", "project", "name", "strategy", "status", "started_at", "ended_at", "heartbeat_at",
    "device_name", "device_count", "provider", "instance_type", "region", "host_cpu_count",
    "steps", "host",
)  # fmt: skip


def fleet_runs(store: Store, *, since: datetime, now: datetime) -> list[dict[str, Any]]:
    """Runs running now or started at or after ``since`` (naive UTC), as dicts of
    :data:`FLEET_COLUMNS` with ``status`` the effective one (a stale heartbeat: ``lost``) and
    ``end`` the last time it was alive (its end, else its heartbeat)."""
    t = Run.__table__
    cols = [t.c[name] for name in FLEET_COLUMNS]
    stmt = select(*cols).where(or_(t.c.status == "running", t.c.started_at >= since))
    out = []
    with store.engine.connect() as conn:
        for row in conn.execute(stmt):
            r = dict(row._mapping)
            r["started_at"] = _as_dt(r["started_at"])
            heartbeat = _as_dt(r["heartbeat_at"])
            r["status"] = effective_status(r["status"], heartbeat, now)
            r["end"] = _as_dt(r["ended_at"]) or heartbeat or r["started_at"]
            out.append(r)
    return out
