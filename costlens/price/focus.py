"""Recorded runs as FOCUS 1.2 cost-and-usage rows (the FinOps Foundation's format).

One row per priced run: ``ChargeCategory`` Usage, ``ServiceCategory`` "AI and Machine
Learning", the run's time as the charge period, the instance id (when the cloud's metadata gave
one) as ``ResourceId``, consumed device-hours (:mod:`costlens.core.hours`: GPU-hours, or
instance-hours of a CPU run) as ``ConsumedQuantity``, billed instance-hours as
``PricingQuantity``, and costlens's own figures as ``x_`` columns. Costs are costlens's priced
figure from the dated price table (list prices: ``ListCost`` = ``BilledCost`` =
``EffectiveCost`` = ``ContractedCost``); the table's source and date are in ``x_PriceSource``.
A run without a price is left out (no invented cost) and counted in :attr:`FocusExport.skipped`.
Column rules: :mod:`costlens.price.focus_spec`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from costlens.core.errors import CostlensError
from costlens.core.hours import CPU
from costlens.price.breakdown import run_cost
from costlens.price.focus_spec import MANDATORY, OPTIONAL
from costlens.price.tables import PriceTable

SERVICE_CATEGORY = "AI and Machine Learning"
CURRENCY = "USD"
CONSUMED_UNIT = {"gpu": "GPU-Hours", CPU: "Hours"}
CUSTOM_COLUMNS = (
    "x_RunId", "x_Project", "x_RunName", "x_Status", "x_Strategy", "x_Flops", "x_EnergyKwh",
    "x_Co2eKg", "x_InstanceBasis", "x_PriceBasis", "x_PriceSource", "x_CostKind",
)  # fmt: skip
FOCUS_COLUMNS: tuple[str, ...] = (
    tuple(c.name for c in MANDATORY) + tuple(c.name for c in OPTIONAL) + CUSTOM_COLUMNS
)


@dataclass
class FocusExport:
    """The rows (in :data:`FOCUS_COLUMNS` order) and the runs left out, with why."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (run id, reason)


def utc_text(moment: datetime) -> str:
    """FOCUS date/time: UTC, ``YYYY-MM-DDTHH:mm:ssZ`` (a naive time is UTC, as stored)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def started(record: dict[str, Any]) -> datetime:
    """A run record's start as a naive UTC datetime (records carry ISO text)."""
    value = record["started_at"]
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) holding ``moment``: inclusive start, exclusive end."""
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return start, nxt


def _parties(cost: dict[str, Any]) -> str:
    quote = cost.get("quote") or {}
    return str(quote.get("provider") or "unknown")


def run_row(record: dict[str, Any], cost: dict[str, Any], account: str) -> dict[str, Any]:
    """One FOCUS row for a priced run (``cost``: :func:`costlens.price.run_cost`)."""
    start = started(record)
    ended = start + timedelta(seconds=float(cost["duration_s"] or 0.0))
    period_start, period_end = month_bounds(start)
    quote = cost.get("quote") or {}
    provider = _parties(cost)
    usd = float(cost["cost_usd"])
    kind = cost.get("device_kind") or CPU
    instance_hours = cost.get("instance_hours")
    pricing_qty, pricing_unit = (instance_hours, "Hours")
    if instance_hours is None:  # a MIG slice pays its share of GPU-hours, not instances
        pricing_qty, pricing_unit = cost["device_hours"], CONSUMED_UNIT[kind]
    devices = f"{cost.get('device_count') or ''} x {cost.get('device_key') or record.get('device')}"
    return {
        "BilledCost": usd, "BillingAccountId": account, "BillingAccountName": None,
        "BillingCurrency": CURRENCY,
        "BillingPeriodEnd": utc_text(period_end), "BillingPeriodStart": utc_text(period_start),
        "ChargeCategory": "Usage", "ChargeClass": None,
        "ChargeDescription": f"costlens run {record['id']}: {record.get('strategy')} on {devices} "
                             f"({quote.get('instance_type') or 'instance unknown'})",
        "ChargePeriodEnd": utc_text(ended), "ChargePeriodStart": utc_text(start),
        "ContractedCost": usd, "EffectiveCost": usd, "InvoiceIssuerName": provider,
        "ListCost": usd, "PricingQuantity": pricing_qty, "PricingUnit": pricing_unit,
        "ProviderName": provider, "PublisherName": provider,
        "ServiceCategory": SERVICE_CATEGORY, "ServiceName": f"{provider} compute instances",
        "AvailabilityZone": record.get("zone"),
        "ConsumedQuantity": cost["device_hours"], "ConsumedUnit": CONSUMED_UNIT[kind],
        "ListUnitPrice": usd / pricing_qty if pricing_qty else None,
        "PricingCategory": "Dynamic" if quote.get("spot") else "Standard",
        "RegionId": record.get("region") or quote.get("region"),
        "ResourceId": record.get("instance_id"),
        "ResourceType": quote.get("instance_type") or record.get("instance_type"),
        "x_RunId": record["id"], "x_Project": record.get("project"),
        "x_RunName": record.get("name"), "x_Status": record.get("status"),
        "x_Strategy": record.get("strategy"), "x_Flops": record.get("flops"),
        "x_EnergyKwh": cost.get("total_energy_kwh"), "x_Co2eKg": cost.get("co2e_kg"),
        "x_InstanceBasis": record.get("instance_basis") or "cheapest match",
        "x_PriceBasis": cost.get("quote_reason"),
        "x_PriceSource": f"{quote.get('source')}, as of {quote.get('as_of')}",
        "x_CostKind": "measured",
    }  # fmt: skip


def decimal_text(value: float | int) -> str:
    """A number in FOCUS numeric format: plain or E notation, no ``+`` in the exponent."""
    text = repr(value) if isinstance(value, int) else format(float(value), ".15g")
    return text.replace("e+", "E").replace("e-", "E-")


def csv_cells(row: dict[str, Any]) -> dict[str, Any]:
    """One row's CSV cells: numbers in FOCUS numeric format, nulls empty, text formula-safe."""
    from costlens.core.fmt import csv_text

    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None:
            out[key] = ""
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = decimal_text(value)
        else:
            out[key] = csv_text(str(value))
    return out


def focus_rows(
    records: Iterable[dict[str, Any]], *, prices: PriceTable, account: str = "costlens"
) -> FocusExport:
    """FOCUS rows for ``records`` (public run records), oldest first; unpriced runs skipped."""
    out = FocusExport()
    for record in sorted(records, key=started):
        try:
            cost = run_cost(record, prices=prices, alternatives=False)
        except CostlensError as exc:
            out.skipped.append((record["id"], str(exc)))
            continue
        if cost.get("cost_usd") is None or cost.get("duration_s") is None:
            why = "; ".join(cost.get("notes") or []) or "no price for its device"
            out.skipped.append((record["id"], why))
            continue
        out.rows.append(run_row(record, cost, account))
    return out
