"""Run records for people and tools: the stored facts plus what is derived from them.

The one run listing of the library: ``costlens runs``/``show`` and the dashboard call these, so
both show the same runs (one filter, one lost rule: :func:`costlens.store.queries.list_runs`)
and the same figures (cost keys from :func:`costlens.price.add_cost_columns`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from costlens.core.errors import CostlensError
from costlens.price import add_cost_columns, run_cost, sample_summary
from costlens.price.tables import PriceTable
from costlens.store.db import Store
from costlens.store.queries import get_run, list_runs


def run_rows(
    store: Store,
    prices: PriceTable,
    *,
    project: str | None = None,
    status: str | None = None,
    strategy: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Runs newest first with the stable keys (``RUN_KEYS``) plus the cost keys (``COST_KEYS``,
    None where a run cannot be priced). ``status`` is the effective status (a running run with a
    stale heartbeat is ``lost``); ``since``: started at or after it (naive UTC)."""
    records = list_runs(
        store, project=project, status=status, strategy=strategy, since=since, limit=limit
    )
    return add_cost_columns(records, prices=prices)


# What ``show`` adds to one run beyond the listing's cost keys: energy by part, CO2e, the host.
DETAIL_KEYS: tuple[str, ...] = (
    "cpu_energy_kwh",
    "total_energy_kwh",
    "co2e_kg",
    "carbon_g_co2e_per_kwh",
    "carbon_region",
    "host_cpu_mean_pct",
    "host_cpu_max_pct",
    "host_ram_peak_bytes",
    "process_cpu_hours",
    "steady_state_basis",
)


def run_detail(store: Store, run_id: str, prices: PriceTable) -> dict[str, Any]:
    """One run by id or unique prefix, with the cost keys, its energy by part (GPU, host CPU),
    CO2e and the host's CPU and memory figures (None where unknown or unpriced)."""
    record = add_cost_columns([get_run(store, run_id)], prices=prices)[0]
    samples = sample_summary(store, [record["id"]]).get(record["id"])
    try:
        full = run_cost(record, prices=prices, samples=samples, alternatives=False)
    except CostlensError:
        full = {}
    return {**record, **{k: full.get(k) for k in DETAIL_KEYS}}
