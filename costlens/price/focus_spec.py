"""The FOCUS 1.2 column rules costlens writes and reads (FinOps Open Cost and Usage Specification).

Source: the FOCUS_Spec repository (github.com/FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec), tag
``v1.2`` (commit 7296e31), ``specification/columns/*.md`` ("Content Constraints": feature level,
nulls, data type, allowed values) and ``specification/attributes/`` (date/time: UTC, extended
ISO 8601 ``YYYY-MM-DDTHH:mm:ssZ``; currency: ISO 4217 three-letter code; numeric: a plain
decimal or E notation, no symbols or commas; custom columns prefixed ``x_``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FOCUS_VERSION = "1.2"

STRING, DECIMAL, DATETIME, CURRENCY = "String", "Decimal", "Date/Time", "Currency"


@dataclass(frozen=True)
class Column:
    """One FOCUS column: its id, data type, whether it may be null, its allowed values."""

    name: str
    kind: str = STRING
    nullable: bool = False
    allowed: tuple[str, ...] = ()


CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
SERVICE_CATEGORIES = (
    "AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
    "Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things",
    "Management and Governance", "Media", "Migration", "Mobile", "Networking", "Security",
    "Storage", "Web", "Other",
)  # fmt: skip
PRICING_CATEGORIES = ("Standard", "Dynamic", "Committed", "Other")

# Every column whose feature level is "Mandatory" in FOCUS 1.2 (21 columns).
MANDATORY: tuple[Column, ...] = (
    Column("BilledCost", DECIMAL),
    Column("BillingAccountId"),
    Column("BillingAccountName", nullable=True),
    Column("BillingCurrency", CURRENCY),
    Column("BillingPeriodEnd", DATETIME),
    Column("BillingPeriodStart", DATETIME),
    Column("ChargeCategory", allowed=CHARGE_CATEGORIES),
    Column("ChargeClass", nullable=True, allowed=("Correction",)),
    Column("ChargeDescription", nullable=True),
    Column("ChargePeriodEnd", DATETIME),
    Column("ChargePeriodStart", DATETIME),
    Column("ContractedCost", DECIMAL),
    Column("EffectiveCost", DECIMAL),
    Column("InvoiceIssuerName"),
    Column("ListCost", DECIMAL),
    Column("PricingQuantity", DECIMAL, nullable=True),
    Column("PricingUnit", nullable=True),
    Column("ProviderName"),
    Column("PublisherName"),
    Column("ServiceCategory", allowed=SERVICE_CATEGORIES),
    Column("ServiceName"),
)
# The conditional and recommended columns costlens fills.
OPTIONAL: tuple[Column, ...] = (
    Column("AvailabilityZone", nullable=True),
    Column("ConsumedQuantity", DECIMAL, nullable=True),
    Column("ConsumedUnit", nullable=True),
    Column("ListUnitPrice", DECIMAL, nullable=True),
    Column("PricingCategory", nullable=True, allowed=PRICING_CATEGORIES),
    Column("RegionId", nullable=True),
    Column("ResourceId", nullable=True),
    Column("ResourceType", nullable=True),
)
COLUMNS: dict[str, Column] = {c.name: c for c in MANDATORY + OPTIONAL}
# Every column id FOCUS 1.2 defines (the ``Column ID`` of each file under specification/columns).
ALL_COLUMN_IDS = frozenset(
    [
        "AvailabilityZone",
        "BilledCost",
        "BillingAccountId",
        "BillingAccountName",
        "BillingAccountType",
        "BillingCurrency",
        "BillingPeriodEnd",
        "BillingPeriodStart",
        "CapacityReservationId",
        "CapacityReservationStatus",
        "ChargeCategory",
        "ChargeClass",
        "ChargeDescription",
        "ChargeFrequency",
        "ChargePeriodEnd",
        "ChargePeriodStart",
        "CommitmentDiscountCategory",
        "CommitmentDiscountId",
        "CommitmentDiscountName",
        "CommitmentDiscountQuantity",
        "CommitmentDiscountStatus",
        "CommitmentDiscountType",
        "CommitmentDiscountUnit",
        "ConsumedQuantity",
        "ConsumedUnit",
        "ContractedCost",
        "ContractedUnitPrice",
        "EffectiveCost",
        "InvoiceId",
        "InvoiceIssuerName",
        "ListCost",
        "ListUnitPrice",
        "PricingCategory",
        "PricingCurrency",
        "PricingCurrencyContractedUnitPrice",
        "PricingCurrencyEffectiveCost",
        "PricingCurrencyListUnitPrice",
        "PricingQuantity",
        "PricingUnit",
        "ProviderName",
        "PublisherName",
        "RegionId",
        "RegionName",
        "ResourceId",
        "ResourceName",
        "ResourceType",
        "ServiceCategory",
        "ServiceName",
        "ServiceSubcategory",
        "SkuId",
        "SkuMeter",
        "SkuPriceDetails",
        "SkuPriceId",
        "SubAccountId",
        "SubAccountName",
        "SubAccountType",
        "Tags",
    ]
)

DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
DECIMAL_RE = re.compile(r"^-?(\d+(\.\d+)?|\.\d+)(E-?\d+)?$", re.IGNORECASE)
CUSTOM_RE = re.compile(r"^x_[A-Za-z0-9]+$")


def blank(value: Any) -> bool:
    """A null cell: None or empty text (CSV has no other null)."""
    return value is None or (isinstance(value, str) and not value.strip())


def cell_problem(column: Column, value: Any) -> str | None:
    """What is wrong with one cell under the column's rules, or None when it conforms."""
    if blank(value):
        return None if column.nullable else "must not be null"
    text = str(value).strip()
    if column.kind == DECIMAL and (isinstance(value, bool) or not DECIMAL_RE.match(text)):
        return f"{text!r} is not a decimal number (FOCUS numeric format)"
    if column.kind == DATETIME and not DATETIME_RE.match(text):
        return f"{text!r} is not a UTC date/time YYYY-MM-DDTHH:mm:ssZ"
    if column.kind == CURRENCY and not CURRENCY_RE.match(text):
        return f"{text!r} is not an ISO 4217 currency code"
    if column.allowed and text not in column.allowed:
        return f"{text!r} is not one of {', '.join(column.allowed)}"
    return None


def row_problems(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(column, problem) for every rule one row breaks: mandatory columns present, each cell's
    type, nulls and allowed values, the conditional rules between columns, ``x_`` custom names."""
    out = [(c.name, "column missing") for c in MANDATORY if c.name not in row]
    for name, value in row.items():
        if name in COLUMNS:
            problem = cell_problem(COLUMNS[name], value)
            if problem:
                out.append((name, problem))
        elif name not in ALL_COLUMN_IDS and not CUSTOM_RE.match(name):
            out.append((name, "a custom column's name must start with x_"))
    usage = row.get("ChargeCategory") == "Usage" and blank(row.get("ChargeClass"))
    if usage and blank(row.get("PricingQuantity")):
        out.append(("PricingQuantity", "must not be null on a Usage row"))
    for qty, unit in (("PricingQuantity", "PricingUnit"), ("ConsumedQuantity", "ConsumedUnit")):
        if qty in row and blank(row.get(qty)) != blank(row.get(unit)):
            out.append((unit, f"must be null exactly when {qty} is null"))
    if "ConsumedQuantity" in row and not usage and not blank(row.get("ConsumedQuantity")):
        out.append(("ConsumedQuantity", "must be null when ChargeCategory is not Usage"))
    return out
