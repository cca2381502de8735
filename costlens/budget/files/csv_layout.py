"""The CSV layout: one table, rows told apart by ``level`` (month, total, project,
month_project, what_if, job); floats written with ``repr`` so they round-trip exactly."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costlens.core.atomicio import atomic_path
from costlens.core.fmt import csv_text

if TYPE_CHECKING:  # pragma: no cover
    from costlens.budget.forecast import Forecast, WhatIf

CSV_COLUMNS = (
    "level", "month", "project", "name", "line", "strategy", "gpu", "gpus", "provider",
    "instance_type", "spot", "repeats", "jobs", "runs",
    "cost_usd", "cost_usd_low", "cost_usd_high", "gpu_hours", "gpu_hours_low", "gpu_hours_high",
    "energy_kwh", "energy_kwh_low", "energy_kwh_high", "savings_usd", "savings_usd_low",
    "savings_usd_high", "budget_usd", "p_over_budget",
)  # fmt: skip


def _budget_cells(fc: Forecast, month: str) -> dict[str, Any]:
    p = fc.budget.period_of(month) if fc.budget else None
    return {
        "budget_usd": p.budget_usd if p else None,
        "p_over_budget": p.p_over_budget if p else None,
    }


def what_if_figures(w: WhatIf) -> dict[str, float]:
    """A what-if's total cost and savings under the plan's column names (``cost_usd*``)."""
    return {
        "cost_usd": w.total_cost_usd,
        "cost_usd_low": w.total_cost_usd_low,
        "cost_usd_high": w.total_cost_usd_high,
        "savings_usd": w.savings_usd,
        "savings_usd_low": w.savings_usd_low,
        "savings_usd_high": w.savings_usd_high,
    }


def csv_rows(fc: Forecast) -> list[dict[str, Any]]:
    """The CSV layout as a list of dicts (keys = :data:`CSV_COLUMNS`)."""
    rows: list[dict[str, Any]] = []
    for rec in fc.months.to_dict(orient="records"):
        rows.append({**rec, "level": "month", **_budget_cells(fc, rec["month"])})
    total = fc.total.as_dict()
    total.pop("energy_unknown_jobs")
    rows.append({"level": "total", **total, **_budget_cells(fc, "total")})
    rows += [{**r, "level": "project"} for r in fc.projects.to_dict(orient="records")]
    rows += [{**r, "level": "month_project"} for r in fc.month_projects.to_dict(orient="records")]
    for name, w in fc.what_ifs.items():
        what_if = {"level": "what_if", "name": name, "jobs": w.jobs_changed}
        rows.append({**what_if, **what_if_figures(w)})
    rows += [{**r, "level": "job"} for r in fc.jobs.to_dict(orient="records")]
    return [{c: _csv_value(r.get(c)) for c in CSV_COLUMNS} for r in rows]


def _csv_value(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return csv_text(value)  # a name from the plan never runs as a formula


def to_csv(fc: Forecast, handle: Any) -> None:
    """Write the CSV layout to an open text handle."""
    writer = csv.DictWriter(handle, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(fc))


def write_csv(fc: Forecast, path: str | Path) -> Path:
    """Write ``fc`` as CSV to ``path`` (atomically)."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        to_csv(fc, handle)
    return Path(path)
