"""The price list people read (`costlens prices`): rows of a PriceTable, filtered and sorted."""

from __future__ import annotations

from typing import Any

from costlens.core.hours import usd_per_device_hour
from costlens.core.units import finite_or_none
from costlens.price.tables import PriceTable, note_confirmed

# The stable keys of `costlens prices --format json` (other tools parse them: only add).
PRICE_KEYS: tuple[str, ...] = (
    "provider",
    "instance_type",
    "gpu",
    "gpu_count",
    "region",
    "price_usd_hour",
    "spot_price_usd_hour",
    "usd_per_gpu_hour",
    "spot_usd_per_gpu_hour",
    "vcpus",
    "memory_gb",
    "as_of",
    "source",
    "note",
    "origin",
    "confirmed",
)
_NUMBERS = ("price_usd_hour", "spot_price_usd_hour", "usd_per_gpu_hour", "vcpus", "memory_gb")


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    out = {**row, **{k: finite_or_none(row.get(k)) for k in _NUMBERS}}
    out["spot_usd_per_gpu_hour"] = usd_per_device_hour(row["spot_price_usd_hour"], row["gpu_count"])
    out["confirmed"] = note_confirmed(row.get("note"))
    return {k: out.get(k) for k in PRICE_KEYS}


def price_rows(
    prices: PriceTable,
    *,
    gpu: str | None = None,
    provider: str | None = None,
    spot: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Price rows (keys :data:`PRICE_KEYS`), cheapest per GPU-hour first (spot per GPU-hour,
    rows with a spot price only, with ``spot``); then by provider, instance type and region.

    ``gpu`` is any accelerator name (UnknownAcceleratorError with close names). CPU-only rows
    (gpu "CPU") are priced per instance-hour. ``confirmed`` is False where the row's note says
    UNCONFIRMED.
    """
    rows = prices.rows_for(gpu) if gpu else [dict(r) for r in prices.rows]
    if provider:
        rows = [r for r in rows if r["provider"] == provider.lower()]
    listed = [_listed(r) for r in rows]
    order = "spot_usd_per_gpu_hour" if spot else "usd_per_gpu_hour"
    if spot:
        listed = [r for r in listed if r["spot_price_usd_hour"] is not None]
    listed.sort(key=lambda r: (r[order], r["provider"], r["instance_type"], r["region"]))
    return listed[:limit] if limit else listed
