"""The same run on every provider's matching instance, on-demand and spot."""

from __future__ import annotations

from typing import Any

from costlens.core.errors import PriceNotFoundError
from costlens.price.billing import quote
from costlens.price.tables import PriceTable


def _priced(prefix: str, q: Any, devices: int, hours: float | None) -> dict[str, Any]:
    """One quote's columns (``prefix`` "" for on-demand, "spot_" for spot); whole instances."""
    if q is None:
        return dict.fromkeys((f"{prefix}instance_type", f"{prefix}usd_per_hour",
                              f"{prefix}cost_usd"))  # fmt: skip
    return {
        f"{prefix}instance_type": q.instance_type,
        f"{prefix}region": q.region,
        f"{prefix}instances": q.instances_for(devices),
        f"{prefix}usd_per_hour": q.usd_per_hour,
        f"{prefix}usd_per_gpu_hour": q.usd_per_gpu_hour,
        f"{prefix}cost_usd": None if hours is None else q.billed_usd_per_hour(devices) * hours,
    }


def alternatives(
    key: str,
    devices: int,
    hours: float | None,
    prices: PriceTable,
    *,
    min_vcpus: int | None = None,
) -> list[dict[str, Any]]:
    """One entry per provider listing ``key``: its cheapest matching instance on-demand and spot
    (``spot_*`` keys), the whole instances ``devices`` need, and the run's ``cost_usd`` over
    ``hours``. Cheapest first; providers without a price for the run last."""
    out: list[dict[str, Any]] = []
    for prov in prices.providers(key):
        entry: dict[str, Any] = {"provider": prov}
        for spot in (False, True):
            try:
                q = quote(prices, key, devices, provider=prov, spot=spot, min_vcpus=min_vcpus)
            except PriceNotFoundError:
                q = None
            entry.update(_priced("spot_" if spot else "", q, devices, hours))
            if q is not None and not spot:
                entry["gpu_count"] = q.gpu_count
                entry["as_of"] = q.as_of
        out.append(entry)
    out.sort(key=lambda e: (e.get("cost_usd") is None, e.get("cost_usd") or 0.0))
    return out
