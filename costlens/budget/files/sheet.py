"""XLSX building blocks: number formats, header names and a small row writer (openpyxl)."""

from __future__ import annotations

import json
import math
from typing import Any

from costlens.core.units import json_ready

USD_FORMAT = '"$"#,##0.00'
NUMBER_FORMAT = "#,##0.0"
SCI_FORMAT = "0.00E+00"
PCT_FORMAT = "0.0%"

HEADS = {
    "month": "Month",
    "project": "Project",
    "jobs": "Jobs",
    "runs": "Runs",
    "cost_usd": "Expected cost (USD)",
    "cost_usd_low": "Cost P10 (USD)",
    "cost_usd_high": "Cost P90 (USD)",
    "gpu_hours": "GPU-hours",
    "gpu_hours_low": "GPU-hours P10",
    "gpu_hours_high": "GPU-hours P90",
    "energy_kwh": "Energy (kWh)",
    "energy_kwh_low": "Energy P10 (kWh)",
    "energy_kwh_high": "Energy P90 (kWh)",
    "budget_usd": "Budget (USD)",
    "p_over_budget": "P(over budget)",
    "instance_type": "Instance type",
    "usd_per_gpu_hour": "Price (USD per GPU-hour)",
    "compute_cost_usd_per_run": "Compute cost per run (USD)",
    "label_cost_usd": "Label cost (USD)",
    "mfu_assumed": "MFU assumed",
}
# Words written their own way in a header made from a key.
_HEAD_WORDS = {"gpu": "GPU", "gpus": "GPUs", "mfu": "MFU", "usd": "USD", "kwh": "kWh"}


def head(col: str) -> str:
    """The header of a column, one style on every sheet: :data:`HEADS`, else the key in
    sentence case with its unit in brackets (``label_cost_usd`` -> ``Label cost (USD)``,
    ``instance_type`` -> ``Instance type``), never the raw key."""
    if col in HEADS:
        return HEADS[col]
    words = [_HEAD_WORDS.get(w, w) for w in col.split("_") if w]
    unit = words.pop() if len(words) > 1 and words[-1] in ("USD", "kWh") else None
    text = " ".join(words) or col
    text = text[:1].upper() + text[1:]
    return f"{text} ({unit})" if unit else text


def number_format(col: str) -> str | None:
    """The cell format of a column, by its name's unit (None: the default)."""
    if any(k in col for k in ("cost_usd", "savings_usd", "budget_usd", "usd_per_gpu_hour")):
        return USD_FORMAT
    if col.startswith(("gpu_hours", "energy_kwh")):
        return NUMBER_FORMAT
    if col in ("params", "tokens"):
        return SCI_FORMAT
    if col in ("p_over_budget", "mfu_assumed"):
        return PCT_FORMAT
    return None


def cell_value(value: Any) -> Any:
    """A value a cell can hold: numpy unwrapped, NaN empty, containers as compact JSON."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(json_ready(value), separators=(",", ":"))
    return value


def text_not_formula(cell: Any, value: Any) -> Any:
    """Keep a data cell whose text starts with ``=`` (a plan's job name) a string: openpyxl
    would store it as a formula that the spreadsheet runs."""
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"
    return cell


def put(ws: Any, row: int, column: int, value: Any) -> Any:
    """``ws.cell(row, column, value)`` with :func:`cell_value` and never a formula."""
    value = cell_value(value)
    return text_not_formula(ws.cell(row=row, column=column, value=value), value)


class Sheet:
    """A tiny row writer that knows formats and keeps track of the current row."""

    def __init__(self, ws: Any) -> None:
        from openpyxl.styles import Font, PatternFill

        self.ws = ws
        self.row = 1
        self.bold = Font(bold=True)
        self.title_font = Font(bold=True, size=14)
        self.fill = PatternFill("solid", fgColor="DDEBF7")

    def title(self, text: str, size: str = "section") -> None:
        cell = put(self.ws, self.row, 1, text)
        cell.font = self.title_font if size == "title" else self.bold
        self.row += 1

    def line(self, *values: Any) -> None:
        for i, v in enumerate(values, start=1):
            put(self.ws, self.row, i, v)
        self.row += 1

    def table(
        self,
        columns: list[str],
        records: list[dict[str, Any]],
        *,
        heads: dict[str, str] | None = None,
        total: dict[str, Any] | None = None,
    ) -> tuple[int, int, int | None]:
        """Write a header, rows and an optional bold total row: (header row, last data row,
        total row)."""
        heads = heads or {}
        head_row = self.row
        for i, c in enumerate(columns, start=1):
            cell = put(self.ws, self.row, i, heads.get(c) or head(c))
            cell.font = self.bold
            cell.fill = self.fill
        self.row += 1
        for rec in records:
            self._row(columns, rec)
        last = self.row - 1
        total_row = None
        if total is not None:
            total_row = self.row
            self._row(columns, total, bold=True)
        self.row += 1  # a blank line after each table
        return head_row, last, total_row

    def _row(self, columns: list[str], rec: dict[str, Any], bold: bool = False) -> None:
        for i, c in enumerate(columns, start=1):
            cell = put(self.ws, self.row, i, rec.get(c))
            fmt = number_format(c)
            if fmt:
                cell.number_format = fmt
            if bold:
                cell.font = self.bold
        self.row += 1

    def widths(self, widths: dict[str, float]) -> None:
        for letter, w in widths.items():
            self.ws.column_dimensions[letter].width = w
