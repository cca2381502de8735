"""One instance's price (:class:`PriceQuote`) and whole-instance billing, defined once.

Clouds rent whole instances: 3 GPUs on an 8-GPU instance pay for the instance. Every figure in
dollars (a run's cost, an estimate, a forecast) goes through :meth:`PriceQuote.instances_for` and
:meth:`PriceQuote.billed_usd_per_gpu_hour`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from costlens.core.hours import usd_per_device_hour

UNCONFIRMED = "UNCONFIRMED"  # a price row's note starting so: the figure is in doubt


def note_confirmed(note: Any) -> bool:
    """False when a price row's note flags it ``UNCONFIRMED`` (the one rule for `confirmed`)."""
    return UNCONFIRMED not in str(note or "").upper()


@dataclass(frozen=True)
class PriceQuote:
    """One instance's price, as used to price a run."""

    provider: str
    instance_type: str
    region: str
    gpu: str
    gpu_count: int  # accelerators per instance (0 for CPU-only instances)
    usd_per_hour: float  # whole instance, on-demand or spot as asked
    usd_per_gpu_hour: float  # usd_per_hour / gpu_count (CPU instances: per instance-hour)
    spot: bool
    source: str
    as_of: str
    note: str = ""  # the price row's own caveat (e.g. UNCONFIRMED), "" if none

    @property
    def confirmed(self) -> bool:
        """False when the price row is flagged UNCONFIRMED (see :func:`note_confirmed`)."""
        return note_confirmed(self.note)

    @property
    def per_instance_hour(self) -> bool:
        """True for CPU-only instances, which are priced per instance-hour."""
        return self.gpu_count <= 0

    def instances_for(self, devices: int) -> int:
        """Whole instances rented to run ``devices`` accelerators (at least 1)."""
        if self.per_instance_hour:
            return 1
        return max(1, math.ceil(max(int(devices), 1) / self.gpu_count))

    def billed_usd_per_hour(self, devices: int) -> float:
        """Dollars per wall-clock hour for a job on ``devices`` accelerators (whole instances)."""
        return self.instances_for(devices) * self.usd_per_hour

    def billed_usd_per_gpu_hour(self, devices: int) -> float:
        """Dollars per GPU-hour actually billed: 3 GPUs on an 8-GPU instance pay 8/3 of its
        per-GPU rate. CPU-only instances: per instance-hour."""
        if self.per_instance_hour or devices <= 0:
            return float(self.usd_per_gpu_hour)
        return self.billed_usd_per_hour(devices) / devices

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "instance_type": self.instance_type,
            "region": self.region,
            "gpu": self.gpu,
            "gpu_count": self.gpu_count,
            "usd_per_hour": self.usd_per_hour,
            "usd_per_gpu_hour": self.usd_per_gpu_hour,
            "spot": self.spot,
            "source": self.source,
            "as_of": self.as_of,
            "confirmed": self.confirmed,
        }


def quote_from_row(row: Any, spot: bool) -> PriceQuote:
    """A PriceQuote from one price row (a mapping or a pandas row)."""
    usd = float(row["spot_price_usd_hour"] if spot else row["price_usd_hour"])
    count = int(row["gpu_count"])
    per_gpu = usd_per_device_hour(usd, count)
    note = row.get("note", "") if hasattr(row, "get") else ""
    return PriceQuote(
        provider=str(row["provider"]),
        instance_type=str(row["instance_type"]),
        region=str(row["region"]),
        gpu=str(row["gpu"]),
        gpu_count=count,
        usd_per_hour=usd,
        usd_per_gpu_hour=per_gpu if per_gpu is not None else usd,  # NaN stays NaN
        spot=spot,
        source=str(row["source"]),
        as_of=str(row["as_of"]),
        note="" if note is None or str(note) == "nan" else str(note),
    )
