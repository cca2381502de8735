"""The hourly rate of a running run's instance, resolved once at run start from the price table.

It is the run's own cost function (:func:`costlens.price.run_cost`) applied to one hour of the
run's facts, so the live line, the spend guard and ``costlens cost`` bill the same instance (whole
instances, the same quote rule) and never disagree on the rate.

Pricing (and the store models it loads) is imported on first use, on the live thread: importing
``costlens.profile`` or starting ``costlens run`` does not wait for it before training starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from costlens.core.errors import CostlensError
from costlens.core.units import S_PER_H
from costlens.record.live import HourlyRate

if TYPE_CHECKING:
    from costlens.price.tables import PriceTable

ONE_HOUR_S = float(S_PER_H)


def hourly_rate(facts: dict[str, Any], *, prices: PriceTable | None = None) -> HourlyRate | None:
    """Dollars per wall-clock hour of the run described by ``facts`` (``device``,
    ``device_count``, ``provider``, ``instance_type``, ``host_cpu_count``), with the instance it
    is billed on; None when the hardware has no price (or a declared instance is not listed)."""
    from costlens.price import run_cost
    from costlens.price.tables import PriceTable

    table = prices if prices is not None else PriceTable.load()
    record = {**facts, "duration_s": ONE_HOUR_S, "flops": 0.0}
    try:
        c = run_cost(record, prices=table, alternatives=False)
    except CostlensError:
        return None
    if c["cost_usd"] is None or c["quote"] is None:
        return None
    q = c["quote"]
    kind = "spot" if q["spot"] else "on-demand"
    return HourlyRate(
        usd_per_hour=float(c["cost_usd"]),
        label=f"{q['provider']}/{q['instance_type']} {q['region']} {kind}",
        basis=str(c["quote_reason"] or ""),
    )


def peak_of(facts: dict[str, Any], *, prices: PriceTable | None = None) -> Any:
    """One device's peak FLOP/s by precision (``GpuSpec.peak_for``) for the run's accelerator,
    from the dated spec table; None for an unknown device or a CPU run."""
    from costlens.core.errors import UnknownAcceleratorError
    from costlens.price.tables import PriceTable

    device = facts.get("device")
    if not device or not facts.get("device_count"):
        return None
    table = prices if prices is not None else PriceTable.load()
    try:
        return table.spec(table.resolve(str(device))).peak_for
    except UnknownAcceleratorError:
        return None
