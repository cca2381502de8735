"""Write a :class:`~costlens.budget.forecast.Forecast` as JSON, CSV or XLSX.

Every writer renders to a temporary file in the target folder and renames it onto the target
(:func:`costlens.core.atomicio.atomic_path`), so a failure (a full disk, a bad value, Ctrl-C) never
leaves a half-written file.

Layouts (money in USD, GPU time in GPU-hours, energy in kWh; ``_low``/``_high`` = 10th/90th
percentiles of the simulation):

- JSON: ``Forecast.as_dict()``: ``total_cost_usd``, ``total_cost_usd_low``,
  ``total_cost_usd_high`` (and the same for ``gpu_hours``, ``energy_kwh``), ``months``,
  ``projects``, ``month_projects``, ``jobs``, ``what_ifs``, ``budget``, ``assumptions``.
- CSV: one table, one row per figure set, told apart by the ``level`` column: ``month`` rows
  (in month order), one ``total`` row, ``project`` rows, ``month_project`` rows, ``what_if`` rows
  (the plan's total under each what-if, ``name`` = the what-if, with ``savings_usd*``) and ``job``
  rows. Filter on ``level`` in a spreadsheet; empty cells mean "not applicable at this level".
- XLSX: ``Summary`` (totals, per month with a bar chart of monthly spend, per project, month x
  project, what-ifs, budget), ``Jobs`` (one row per planned job), ``Assumptions`` (simulation
  settings, estimator identity, the price rows used with their source and as-of date, the MFU
  figures used and the estimator's MFU priors). Defined names ``total_cost_usd``,
  ``total_cost_usd_low`` and ``total_cost_usd_high`` point at the Summary totals.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from costlens.budget.files.csv_layout import CSV_COLUMNS, csv_rows, to_csv, write_csv
from costlens.budget.files.json_layout import to_json, write_json
from costlens.budget.files.sheet import NUMBER_FORMAT, PCT_FORMAT, SCI_FORMAT, USD_FORMAT
from costlens.budget.files.xlsx_layout import build_workbook, write_xlsx
from costlens.core.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from costlens.budget.forecast import Forecast

FORMATS = {".json": "json", ".csv": "csv", ".xlsx": "xlsx"}


def format_for(path: str | Path) -> str:
    """``json``, ``csv`` or ``xlsx`` from the file's suffix (UsageError otherwise)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"--out must end in .xlsx, .csv or .json (got {Path(path).name!r}).")
    return FORMATS[suffix]


def write(fc: Forecast, path: str | Path) -> Path:
    """Write ``fc`` in the format its suffix names (.json, .csv, .xlsx), atomically."""
    writer = {"json": write_json, "csv": write_csv, "xlsx": write_xlsx}[format_for(path)]
    return writer(fc, path)


__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "NUMBER_FORMAT",
    "PCT_FORMAT",
    "SCI_FORMAT",
    "USD_FORMAT",
    "build_workbook",
    "csv_rows",
    "format_for",
    "to_csv",
    "to_json",
    "write",
    "write_csv",
    "write_json",
    "write_xlsx",
]
