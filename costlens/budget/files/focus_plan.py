"""A forecast as FOCUS 1.2 planned cost: one Usage row per planned job and month.

The charge period is the job's month (UTC, first day to the first day of the next), the cost
columns are the job's expected cost (its P10/P90 in ``x_CostLowUsd``/``x_CostHighUsd``), the
expected GPU-hours are ``ConsumedQuantity``/``PricingQuantity`` (runs when unknown, as
Usage needs a PricingQuantity), and ``x_CostKind`` is
``planned`` so that a planned row is never mistaken for a billed one. The column rules are
:mod:`costlens.price.focus_spec`'s, the same as the runs' export.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from costlens.price.focus import CURRENCY, FOCUS_COLUMNS, SERVICE_CATEGORY, utc_text

PLAN_COLUMNS: tuple[str, ...] = (*FOCUS_COLUMNS, "x_CostLowUsd", "x_CostHighUsd", "x_PlanJob")


def month_period(month: str) -> tuple[str, str]:
    """(start, end) of a ``YYYY-MM`` month in FOCUS date/time."""
    start = datetime.strptime(month, "%Y-%m")
    end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return utc_text(start), utc_text(end)


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def planned_row(job: dict[str, Any], account: str) -> dict[str, Any]:
    """One planned job (a row of the forecast's ``jobs`` frame) as a FOCUS planned-cost row."""
    start, end = month_period(str(job["month"]))
    provider = job.get("provider") or "unknown"
    usd, hours = _number(job.get("cost_usd")), _number(job.get("gpu_hours"))
    row: dict[str, Any] = dict.fromkeys(PLAN_COLUMNS)
    row.update({
        "BilledCost": usd, "BillingAccountId": account, "BillingAccountName": account,
        "BillingCurrency": CURRENCY, "BillingPeriodStart": start, "BillingPeriodEnd": end,
        "ChargeCategory": "Usage", "ChargePeriodStart": start, "ChargePeriodEnd": end,
        "ChargeDescription": f"planned: {job.get('name')} ({job.get('repeats')} run(s))",
        "ContractedCost": usd, "EffectiveCost": usd, "ListCost": usd,
        "InvoiceIssuerName": provider, "ProviderName": provider, "PublisherName": provider,
        "ServiceCategory": SERVICE_CATEGORY, "ServiceName": f"{provider} compute instances",
        "PricingQuantity": hours if hours is not None else job.get("repeats") or 1,
        "PricingUnit": "GPU-Hours" if hours is not None else "Runs",
        "ConsumedQuantity": hours, "ConsumedUnit": None if hours is None else "GPU-Hours",
        "PricingCategory": "Dynamic" if job.get("spot") else "Standard",
        "ResourceType": job.get("instance_type"),
        "x_Project": job.get("project"), "x_Strategy": job.get("strategy"),
        "x_CostKind": "planned", "x_PlanJob": job.get("name"),
        "x_CostLowUsd": _number(job.get("cost_usd_low")),
        "x_CostHighUsd": _number(job.get("cost_usd_high")),
    })  # fmt: skip
    return row


def planned_rows(jobs: list[dict[str, Any]], account: str = "costlens") -> list[dict[str, Any]]:
    """Every planned job with an expected cost as a FOCUS row; jobs without one are left out."""
    return [planned_row(j, account) for j in jobs if _number(j.get("cost_usd")) is not None]
