"""What the recorder and the journal read while writing a run: does its row exist, its counts as
sums over its ranks, and the energy of every node's devices."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select

from costlens.store.db import Store
from costlens.store.models import Run, RunRank, Sample


def run_exists(store: Store, run_id: str) -> bool:
    t = Run.__table__
    with store.engine.connect() as conn:
        return conn.execute(select(t.c.id).where(t.c.id == run_id)).first() is not None


def rank_sums(run_id: str) -> dict[str, Any]:
    """Column values that set a run's counts from its ranks (SQL subqueries, for ``update_run``).

    FLOPs, samples and tokens are summed over ranks (each rank does its own share of the work).
    Steps are the most any rank took: data-parallel ranks take the same optimizer steps together,
    so a sum would count each step ``world_size`` times. The steady-state window
    (``steady_flops`` summed, ``steady_s`` the longest) is None until every rank has one.
    """
    rr = RunRank.__table__

    def total(col: Any, zero: Any, agg: Any = func.sum) -> Any:
        return (
            select(func.coalesce(agg(col), zero)).where(rr.c.run_id == run_id)
        ).scalar_subquery()

    every_rank = func.count(rr.c.steady_s) == func.count()

    def steady(col: Any, agg: Any) -> Any:  # None until every rank has its steady state
        value = case((every_rank, agg(col)), else_=None)
        return select(value).where(rr.c.run_id == run_id).scalar_subquery()

    return {
        "steady_flops": steady(rr.c.steady_flops, func.sum),
        "steady_s": steady(rr.c.steady_s, func.max),
        "steps": total(rr.c.steps, 0, func.max),
        "samples": total(rr.c.samples, 0),
        "tokens": total(rr.c.tokens, 0),
        "tokens_real": total(rr.c.tokens_real, 0),
        "flops": total(rr.c.flops, 0.0),
    }


def devices_energy_mj(store: Store, run_id: str) -> float | None:
    """Energy of every device of every node: the last (largest) reading of each, summed, in mJ.

    None when no device reported any.
    """
    s = Sample.__table__
    per_device = (
        select(func.max(s.c.energy_mj).label("m"))
        .where(s.c.run_id == run_id, s.c.device_index >= 0)
        .group_by(s.c.node_rank, s.c.device_index)
        .subquery("per_device")
    )
    with store.engine.connect() as conn:
        got = conn.execute(select(func.sum(per_device.c.m))).scalar()
    return None if got is None else float(got)
