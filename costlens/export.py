"""Write a :class:`~costlens.forecast.Forecast` as JSON, CSV or XLSX.

Every writer renders to a temporary file in the target folder and ``os.replace``s it onto the
target, so a failure (a full disk, a bad value, Ctrl-C) never leaves a half-written file.

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

import contextlib
import copy
import csv
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costlens.errors import CostlensError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from costlens.forecast import Forecast

FORMATS = {".json": "json", ".csv": "csv", ".xlsx": "xlsx"}
USD_FORMAT = '"$"#,##0.00'
NUMBER_FORMAT = "#,##0.0"
SCI_FORMAT = "0.00E+00"
PCT_FORMAT = "0.0%"
_QUANTS = ("cost_usd", "gpu_hours", "energy_kwh")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed onto ``path`` on success, deleted on failure."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CostlensError(f"cannot write {path}: the folder {folder} does not exist.")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise CostlensError(f"cannot write {path}: {exc.strerror}.") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CostlensError(f"cannot write {path}: {exc.strerror or exc}.") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def format_for(path: str | Path) -> str:
    """``json``, ``csv`` or ``xlsx`` from the file's suffix (UsageError otherwise)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"--out must end in .xlsx, .csv or .json (got {Path(path).name!r}).")
    return FORMATS[suffix]


def write(fc: Forecast, path: str | Path) -> Path:
    """Write ``fc`` in the format its suffix names (.json, .csv, .xlsx)."""
    writer = {"json": write_json, "csv": write_csv, "xlsx": write_xlsx}[format_for(path)]
    return writer(fc, path)


# --------------------------------------------------------------------------- JSON


def to_json(fc: Forecast) -> str:
    """The forecast as one JSON object (NaN written as null)."""
    return json.dumps(_clean(fc.as_dict()), indent=2, allow_nan=False)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def write_json(fc: Forecast, path: str | Path) -> Path:
    """Write ``fc`` as JSON to ``path`` (atomically)."""
    text = to_json(fc)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return Path(path)


# --------------------------------------------------------------------------- CSV

CSV_COLUMNS = (
    "level", "month", "project", "name", "line", "strategy", "gpu", "gpus", "provider",
    "instance_type", "spot", "repeats", "jobs", "runs",
    "cost_usd", "cost_usd_low", "cost_usd_high", "gpu_hours", "gpu_hours_low", "gpu_hours_high",
    "energy_kwh", "energy_kwh_low", "energy_kwh_high", "savings_usd", "savings_usd_low",
    "savings_usd_high", "budget_usd", "p_over_budget",
)  # fmt: skip


def csv_rows(fc: Forecast) -> list[dict[str, Any]]:
    """The CSV layout as a list of dicts (keys = :data:`CSV_COLUMNS`)."""
    rows: list[dict[str, Any]] = []
    budget_by_period: dict[str, dict[str, Any]] = {}
    if fc.budget:
        budget_by_period = {p["month"]: p for p in fc.budget["periods"]}
    for rec in fc.months.to_dict(orient="records"):
        b = budget_by_period.get(rec["month"], {})
        rows.append(
            {**rec, "level": "month", "budget_usd": b.get("budget_usd"),
             "p_over_budget": b.get("p_over_budget")}
        )  # fmt: skip
    tb = budget_by_period.get("total", {})
    rows.append(
        {
            "level": "total",
            "jobs": fc.total["jobs"],
            "runs": fc.total["runs"],
            **{k: fc.total[k] for k in _quant_keys()},
            "budget_usd": tb.get("budget_usd"),
            "p_over_budget": tb.get("p_over_budget"),
        }
    )
    rows += [{**r, "level": "project"} for r in fc.projects.to_dict(orient="records")]
    rows += [{**r, "level": "month_project"} for r in fc.month_projects.to_dict(orient="records")]
    for name, w in fc.what_ifs.items():
        rows.append(
            {
                "level": "what_if",
                "name": name,
                "jobs": w["jobs_changed"],
                "cost_usd": w["total_cost_usd"],
                "cost_usd_low": w["total_cost_usd_low"],
                "cost_usd_high": w["total_cost_usd_high"],
                "savings_usd": w["savings_usd"],
                "savings_usd_low": w["savings_usd_low"],
                "savings_usd_high": w["savings_usd_high"],
            }
        )
    rows += [{**r, "level": "job"} for r in fc.jobs.to_dict(orient="records")]
    return [{c: _csv_value(r.get(c)) for c in CSV_COLUMNS} for r in rows]


def _quant_keys() -> list[str]:
    return [f"{q}{s}" for q in _QUANTS for s in ("", "_low", "_high")]


def _csv_value(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return value


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


# --------------------------------------------------------------------------- XLSX

_HEAD = {
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
}


def _fmt(col: str) -> str | None:
    if any(k in col for k in ("cost_usd", "savings_usd", "budget_usd", "usd_per_gpu_hour")):
        return USD_FORMAT
    if col.startswith(("gpu_hours", "energy_kwh")):
        return NUMBER_FORMAT
    if col in ("params", "tokens"):
        return SCI_FORMAT
    if col in ("p_over_budget", "mfu_assumed"):
        return PCT_FORMAT
    return None


def _xl(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_clean(value), separators=(",", ":"))
    return value


class _Sheet:
    """A tiny row writer that knows formats and keeps track of the current row."""

    def __init__(self, ws: Any) -> None:
        from openpyxl.styles import Font, PatternFill

        self.ws = ws
        self.row = 1
        self.bold = Font(bold=True)
        self.title_font = Font(bold=True, size=14)
        self.fill = PatternFill("solid", fgColor="DDEBF7")

    def title(self, text: str, size: str = "section") -> None:
        cell = self.ws.cell(row=self.row, column=1, value=text)
        cell.font = self.title_font if size == "title" else self.bold
        self.row += 1

    def line(self, *values: Any) -> None:
        for i, v in enumerate(values, start=1):
            self.ws.cell(row=self.row, column=i, value=_xl(v))
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
            cell = self.ws.cell(row=self.row, column=i, value=heads.get(c, _HEAD.get(c, c)))
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
            cell = self.ws.cell(row=self.row, column=i, value=_xl(rec.get(c)))
            fmt = _fmt(c)
            if fmt:
                cell.number_format = fmt
            if bold:
                cell.font = self.bold
        self.row += 1

    def widths(self, widths: dict[str, float]) -> None:
        for letter, w in widths.items():
            self.ws.column_dimensions[letter].width = w


def build_workbook(fc: Forecast) -> Any:
    """The forecast as an ``openpyxl.Workbook`` (Summary, Jobs, Assumptions)."""
    from openpyxl import Workbook

    wb = Workbook()
    _summary_sheet(wb, fc)
    _jobs_sheet(wb, fc)
    _assumptions_sheet(wb, fc)
    return wb


def _summary_sheet(wb: Any, fc: Forecast) -> None:
    from openpyxl.chart import BarChart, Reference
    from openpyxl.utils import get_column_letter
    from openpyxl.workbook.defined_name import DefinedName

    ws = wb.active
    ws.title = "Summary"
    s = _Sheet(ws)
    a = fc.assumptions
    s.title("costlens budget forecast", "title")
    s.line("Plan", a.get("plan") or "(in memory)")
    s.line("Generated (UTC)", a.get("generated_at"))
    sim = a.get("simulation", {})
    s.line(
        "Intervals",
        f"P10-P90 of {sim.get('n_sims')} Monte Carlo simulations (seed {sim.get('seed')}, "
        f"correlation between jobs {sim.get('correlation')}); expected = exact mean",
    )
    s.row += 1

    quants = _quant_keys()
    budget_cols = ["budget_usd", "p_over_budget"] if fc.budget else []
    s.title("Total")
    _, _, total_row = s.table(["jobs", "runs", *quants], [], total={**fc.total})
    for col_name, col_idx in (("total_cost_usd", 3), ("total_cost_usd_low", 4),
                              ("total_cost_usd_high", 5)):  # fmt: skip
        ref = f"'Summary'!${get_column_letter(col_idx)}${total_row}"
        wb.defined_names[col_name] = DefinedName(col_name, attr_text=ref)

    s.title("By month")
    month_recs = fc.months.to_dict(orient="records")
    if fc.budget and fc.budget["period"] == "month":
        by_m = {p["month"]: p for p in fc.budget["periods"]}
        for r in month_recs:
            r["budget_usd"] = by_m[r["month"]]["budget_usd"]
            r["p_over_budget"] = by_m[r["month"]]["p_over_budget"]
    month_cols = ["month", "jobs", "runs", *quants]
    if fc.budget and fc.budget["period"] == "month":
        month_cols += budget_cols
    head, last, _ = s.table(month_cols, month_recs, total={"month": "Total", **fc.total})

    chart = BarChart()
    chart.type = "col"
    chart.title = "Monthly spend (expected, USD)"
    chart.y_axis.title = "USD"
    chart.x_axis.title = "Month"
    chart.y_axis.numFmt = USD_FORMAT
    data = Reference(ws, min_col=4, min_row=head, max_row=last)
    cats = Reference(ws, min_col=1, min_row=head + 1, max_row=last)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(cats)
    chart.height, chart.width = 8, 16
    ws.add_chart(chart, f"{get_column_letter(len(month_cols) + 2)}2")

    s.title("By project")
    s.table(
        ["project", "jobs", "runs", *quants],
        fc.projects.to_dict(orient="records"),
        total={"project": "Total", **fc.total},
    )

    s.title("By month and project (expected cost, USD)")
    projects = list(fc.projects["project"])
    pivot = (
        fc.month_projects.pivot(index="month", columns="project", values="cost_usd")
        .reindex(columns=projects)
        .fillna(0.0)
    )
    heads = {p: p for p in projects}
    recs = [{"month": m, **row.to_dict()} for m, row in pivot.iterrows()]
    pcols = ["month", *projects]
    start = s.row
    s.table(pcols, recs, heads=heads)
    for r in range(start + 1, start + 1 + len(recs)):
        for c in range(2, len(pcols) + 1):
            ws.cell(row=r, column=c).number_format = USD_FORMAT

    if fc.what_ifs:
        s.title("What-ifs (same plan, same random draws)")
        recs = [
            {
                "what_if": name,
                "jobs_changed": w["jobs_changed"],
                "cost_usd": w["total_cost_usd"],
                "cost_usd_low": w["total_cost_usd_low"],
                "cost_usd_high": w["total_cost_usd_high"],
                "savings_usd": w["savings_usd"],
                "savings_usd_low": w["savings_usd_low"],
                "savings_usd_high": w["savings_usd_high"],
                "description": w["description"],
            }
            for name, w in fc.what_ifs.items()
        ]
        s.table(
            list(recs[0].keys()),
            recs,
            heads={
                "what_if": "What-if",
                "jobs_changed": "Jobs changed",
                "savings_usd": "Savings (USD)",
                "savings_usd_low": "Savings P10 (USD)",
                "savings_usd_high": "Savings P90 (USD)",
                "description": "How",
            },
        )

    if fc.budget:
        s.title(f"Budget: {fc.budget['budget_usd']:,.2f} USD per {fc.budget['period']}")
        s.table(
            ["month", "cost_usd", "cost_usd_low", "cost_usd_high", "budget_usd",
             "p_over_budget", "over"],
            fc.budget["periods"],
            heads={"over": "Over budget"},
        )  # fmt: skip
        s.line("Rule", fc.budget["rule"])
    s.widths({"A": 22, **{get_column_letter(i): 16 for i in range(2, 16)}})


def _jobs_sheet(wb: Any, fc: Forecast) -> None:
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet("Jobs")
    s = _Sheet(ws)
    cols = list(fc.jobs.columns)
    # itertuples is far faster than to_dict for 10,000 rows
    heads = {c: _HEAD.get(c, c) for c in cols}
    s.table(cols, [], heads=heads)
    s.row -= 1
    # one styled prototype cell per format; its style array is copied onto each data cell
    # (about 3x faster than setting number_format cell by cell on a 10,000-row sheet)
    scratch = wb.create_sheet("_styles")
    styles: dict[int, Any] = {}
    for i, c in enumerate(cols):
        fmt = _fmt(c)
        if fmt:
            proto = scratch.cell(row=1, column=i + 1)
            proto.number_format = fmt
            styles[i] = proto._style
    wb.remove(scratch)
    for r, tup in enumerate(fc.jobs.itertuples(index=False, name=None), start=2):
        ws.append([_xl(v) for v in tup])
        for i, style in styles.items():
            ws.cell(row=r, column=i + 1)._style = copy.copy(style)
    ws.freeze_panes = "C2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{len(fc.jobs) + 1}"
    s.widths({get_column_letter(i): 14 for i in range(1, len(cols) + 1)})
    ws.column_dimensions["B"].width = 28


def _assumptions_sheet(wb: Any, fc: Forecast) -> None:
    ws = wb.create_sheet("Assumptions")
    s = _Sheet(ws)
    a = fc.assumptions
    s.title("How these figures were made", "title")
    sim = a.get("simulation", {})
    est = a.get("estimator", {})
    for key, value in (
        ("costlens version", a.get("costlens_version")),
        ("Generated (UTC)", a.get("generated_at")),
        ("Plan", a.get("plan")),
        ("Plan sha256", a.get("plan_sha256")),
        *((f"Estimator {k}", v) for k, v in est.items()),
        ("Simulations", sim.get("n_sims")),
        ("Seed", sim.get("seed")),
        ("Correlation between jobs", sim.get("correlation")),
        ("Distribution", sim.get("distribution")),
        ("Expected figures", sim.get("expected")),
        ("Transfer strategy (what-if)", a.get("transfer_strategy")),
        *((f"What-if {n}", w["description"]) for n, w in fc.what_ifs.items()),
        *((("Budget rule", fc.budget["rule"]),) if fc.budget else ()),
    ):
        s.line(key, value)
    s.row += 1
    prices = a.get("prices") or []
    if prices:
        s.title("Prices used (from the dated price table)")
        cols = ["provider", "instance_type", "region", "gpu", "gpu_count", "spot",
                "usd_per_gpu_hour", "as_of", "source"]  # fmt: skip
        s.table(cols, prices)
    mfu = a.get("mfu") or []
    if mfu:
        s.title("MFU assumed by the estimator for this plan")
        s.table(["gpu", "strategy", "precision", "mfu_assumed"], mfu)
    priors = a.get("mfu_priors") or []
    if priors:
        s.title("Estimator priors (data/mfu_priors.csv)")
        cols = list(priors[0].keys())
        s.table(cols, priors)
    s.widths({"A": 30, "B": 24, "C": 16, "D": 16, "E": 12, "F": 10, "G": 14, "H": 12, "I": 60})


def write_xlsx(fc: Forecast, path: str | Path) -> Path:
    """Write ``fc`` as an XLSX workbook to ``path`` (atomically)."""
    wb = build_workbook(fc)
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return Path(path)
