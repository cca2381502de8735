"""A cloud bill in FOCUS (a cost-and-usage export, CSV) read into checked lines.

Every cell costlens uses is checked against the FOCUS 1.2 column rules
(:mod:`costlens.price.focus_spec`); a bad bill raises one :class:`DataTableError` naming the file,
the line and the column. Parquet exports are refused with a message (export the bill as CSV).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from costlens.core.errors import DataTableError
from costlens.core.validate import oversize
from costlens.price.focus_spec import COLUMNS, DATETIME, blank, cell_problem

# The columns reconciliation needs (all mandatory in FOCUS 1.2, so any FOCUS export has them).
NEEDED = (
    "BilledCost", "BillingCurrency", "ChargeCategory", "ChargePeriodStart", "ChargePeriodEnd",
    "ServiceCategory",
)  # fmt: skip


@dataclass(frozen=True)
class BillLine:
    """One charge of the bill (times naive UTC, as the store keeps them)."""

    line: int
    billed_usd: float  # BilledCost, in the bill's currency
    currency: str
    category: str  # ChargeCategory
    service: str  # ServiceCategory
    start: datetime
    end: datetime
    resource_id: str | None = None
    resource_type: str | None = None
    list_cost: float | None = None
    effective_cost: float | None = None
    pricing_category: str | None = None
    commitment_id: str | None = None


def _when(text: str, path: str, line: int, column: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() != timedelta(0):
        raise DataTableError(
            f"{text!r} is not a UTC date/time (FOCUS: YYYY-MM-DDTHH:mm:ssZ)",
            path=path, line=line, column=column,
        )  # fmt: skip
    return moment.replace(tzinfo=None)


def _cell(row: dict[str, Any], name: str, path: str, line: int) -> str | None:
    """A checked cell (None when null); a datetime column is checked by :func:`_when`."""
    value = row.get(name)
    column = COLUMNS.get(name)
    if column is not None and column.kind != DATETIME:
        problem = cell_problem(column, value)
        if problem:
            raise DataTableError(problem, path=path, line=line, column=name)
    return None if blank(value) else str(value).strip()


def _number(text: str | None) -> float | None:
    return None if text is None else float(text)


def bill_line(row: dict[str, Any], path: str, line: int) -> BillLine:
    """One CSV row of a FOCUS bill, checked."""
    cells = {name: _cell(row, name, path, line) for name in row if name}
    start = _when(cells["ChargePeriodStart"] or "", path, line, "ChargePeriodStart")
    end = _when(cells["ChargePeriodEnd"] or "", path, line, "ChargePeriodEnd")
    if end < start:
        raise DataTableError(
            "ChargePeriodEnd is before ChargePeriodStart", path=path, line=line,
            column="ChargePeriodEnd",
        )  # fmt: skip
    return BillLine(
        line=line, billed_usd=float(cells["BilledCost"] or 0),
        currency=cells["BillingCurrency"] or "",
        category=cells["ChargeCategory"] or "", service=cells["ServiceCategory"] or "",
        start=start, end=end, resource_id=cells.get("ResourceId"),
        resource_type=cells.get("ResourceType"), list_cost=_number(cells.get("ListCost")),
        effective_cost=_number(cells.get("EffectiveCost")),
        pricing_category=cells.get("PricingCategory"),
        commitment_id=cells.get("CommitmentDiscountId"),
    )  # fmt: skip


def read_bill(path: str | Path) -> list[BillLine]:
    """The lines of a FOCUS cost-and-usage export (CSV). One currency per bill."""
    where = str(path)
    if str(path).lower().endswith((".parquet", ".pq")):
        raise DataTableError(
            "costlens reads FOCUS bills as CSV; export the bill as CSV (Parquet needs pyarrow, "
            "which costlens does not ship)", path=where,
        )  # fmt: skip
    try:
        big = oversize(path)
        if big:
            raise DataTableError(big, path=where)
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in NEEDED if c not in header]
            if missing:
                raise DataTableError(
                    "not a FOCUS bill: no column " + ", ".join(missing), path=where, line=1,
                    column=missing[0],
                )  # fmt: skip
            lines = [bill_line(row, where, i) for i, row in enumerate(reader, start=2)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataTableError(f"cannot read the bill: {exc}", path=where) from None
    currencies = {ln.currency for ln in lines}
    if len(currencies) > 1:
        odd = next(ln for ln in lines if ln.currency != lines[0].currency)
        raise DataTableError(
            f"the bill mixes currencies ({', '.join(sorted(currencies))}); split it by currency",
            path=where, line=odd.line, column="BillingCurrency",
        )  # fmt: skip
    return lines
