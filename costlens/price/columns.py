"""Pricing stored runs: cost columns on many records, the full breakdown of one stored run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from costlens.core.errors import CostlensError
from costlens.core.hours import hours_figures
from costlens.core.vocab import DEFAULT_IDLE_THRESHOLD_PCT
from costlens.price.breakdown import duration_s, run_cost
from costlens.price.idle import sample_summary
from costlens.price.tables import PriceTable
from costlens.store.db import Store
from costlens.store.queries import get_run

# Keys add_cost_columns adds to every record (None where unknown).
COST_KEYS: tuple[str, ...] = (
    "cost_usd", "device_kind", "device_hours", "gpu_hours", "energy_kwh", "mfu",
    "mfu_steady_state",
)  # fmt: skip


def _unpriced(record: dict[str, Any]) -> dict[str, Any]:
    """The cost keys of a run that could not be priced: only its hours, facts, are known."""
    extra: dict[str, Any] = dict.fromkeys(COST_KEYS)
    device, count = record.get("device"), record.get("device_count")
    extra.update(hours_figures(duration_s(record), device, count))
    return extra


def add_cost_columns(
    records: Iterable[dict[str, Any]], *, prices: PriceTable
) -> list[dict[str, Any]]:
    """Each record with ``cost_usd``, ``gpu_hours``, ``energy_kwh`` and ``mfu`` added (None where
    unknown). Never fails because of a run's device or a missing price (look-ups are memoised by
    ``prices``, so many runs of the same hardware cost one look-up)."""
    out = []
    for rec in records:
        try:
            c = run_cost(rec, prices=prices, alternatives=False)
            extra = {k: c[k] for k in COST_KEYS}
        except CostlensError:
            extra = _unpriced(rec)
        out.append({**rec, **extra})
    return out


def cost_breakdown(
    store: Store,
    run_id: str,
    *,
    prices: PriceTable,
    provider: str | None = None,
    instance: str | None = None,
    spot: bool = False,
    idle_threshold_pct: float = DEFAULT_IDLE_THRESHOLD_PCT,
) -> dict[str, Any]:
    """The full cost breakdown of a stored run (id or unique prefix), with its samples' idle
    waste and energy fallback. Used by ``costlens cost`` and the dashboard."""
    record = get_run(store, run_id)
    summary = sample_summary(store, [record["id"]], idle_threshold_pct=idle_threshold_pct)
    return run_cost(
        record,
        prices=prices,
        provider=provider,
        instance=instance,
        spot=spot,
        samples=summary.get(record["id"]),
    )
