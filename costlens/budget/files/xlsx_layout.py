"""The XLSX layout: ``Summary`` (totals, months with a chart, projects, month x project,
what-ifs, budget), ``Jobs`` (one row per planned job) and ``Assumptions`` (provenance)."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costlens.budget.files.csv_layout import what_if_figures
from costlens.budget.files.sheet import (
    USD_FORMAT,
    Sheet,
    cell_value,
    head,
    number_format,
    text_not_formula,
)
from costlens.budget.forecast.distribution import QUANTITIES, SUFFIXES
from costlens.core.atomicio import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from costlens.budget.forecast import Forecast

QUANT_KEYS = [f"{q}{s}" for q in QUANTITIES for s in SUFFIXES]
WHAT_IF_HEADS = {
    "what_if": "What-if",
    "jobs_changed": "Jobs changed",
    "savings_usd": "Savings (USD)",
    "savings_usd_low": "Savings P10 (USD)",
    "savings_usd_high": "Savings P90 (USD)",
    "description": "How",
}
PRICE_COLUMNS = [
    "provider", "instance_type", "region", "gpu", "gpu_count", "spot", "usd_per_gpu_hour",
    "as_of", "source",
]  # fmt: skip


def build_workbook(fc: Forecast) -> Any:
    """The forecast as an ``openpyxl.Workbook`` (Summary, Jobs, Assumptions)."""
    from openpyxl import Workbook

    wb = Workbook()
    _summary_sheet(wb, fc)
    _jobs_sheet(wb, fc)
    _assumptions_sheet(wb, fc)
    return wb


def write_xlsx(fc: Forecast, path: str | Path) -> Path:
    """Write ``fc`` as an XLSX workbook to ``path`` (atomically)."""
    wb = build_workbook(fc)
    with atomic_path(path) as tmp:
        wb.save(tmp)
    return Path(path)


def _summary_sheet(wb: Any, fc: Forecast) -> None:
    from openpyxl.utils import get_column_letter
    from openpyxl.workbook.defined_name import DefinedName

    ws = wb.active
    ws.title = "Summary"
    s = Sheet(ws)
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
    total = fc.total.as_dict()
    s.title("Total")
    _, _, total_row = s.table(["jobs", "runs", *QUANT_KEYS], [], total=total)
    for name, col in (("total_cost_usd", 3), ("total_cost_usd_low", 4), ("total_cost_usd_high", 5)):
        ref = f"'Summary'!${get_column_letter(col)}${total_row}"
        wb.defined_names[name] = DefinedName(name, attr_text=ref)
    _months_table(ws, s, fc, total)
    s.title("By project")
    s.table(
        ["project", "jobs", "runs", *QUANT_KEYS],
        fc.projects.to_dict(orient="records"),
        total={"project": "Total", **total},
    )
    _pivot_table(ws, s, fc)
    if fc.what_ifs:
        s.title("What-ifs (same plan, same random draws)")
        recs = [
            {"what_if": name, "jobs_changed": w.jobs_changed, **what_if_figures(w),
             "description": w.description}
            for name, w in fc.what_ifs.items()
        ]  # fmt: skip
        s.table(list(recs[0].keys()), recs, heads=WHAT_IF_HEADS)
    if fc.budget:
        b = fc.budget
        s.title(f"Budget: {b.budget_usd:,.2f} USD per {b.period}")
        s.table(
            ["month", "cost_usd", "cost_usd_low", "cost_usd_high", "budget_usd",
             "p_over_budget", "over"],
            [dataclasses.asdict(p) for p in b.periods],
            heads={"over": "Over budget"},
        )  # fmt: skip
        s.line("Rule", b.rule)
    s.widths({"A": 22, **{get_column_letter(i): 16 for i in range(2, 16)}})


def _months_table(ws: Any, s: Sheet, fc: Forecast, total: dict[str, Any]) -> None:
    """Per month (with the budget columns for a monthly budget) and a bar chart of spend."""
    from openpyxl.chart import BarChart, Reference
    from openpyxl.utils import get_column_letter

    s.title("By month")
    month_recs = fc.months.to_dict(orient="records")
    month_cols = ["month", "jobs", "runs", *QUANT_KEYS]
    if fc.budget and fc.budget.period == "month":
        for r in month_recs:
            p = fc.budget.period_of(r["month"])
            r["budget_usd"], r["p_over_budget"] = p.budget_usd, p.p_over_budget  # type: ignore[union-attr]
        month_cols += ["budget_usd", "p_over_budget"]
    head, last, _ = s.table(month_cols, month_recs, total={"month": "Total", **total})
    chart = BarChart()
    chart.type = "col"
    chart.title = "Monthly spend (expected, USD)"
    chart.y_axis.title = "USD"
    chart.x_axis.title = "Month"
    chart.y_axis.numFmt = USD_FORMAT
    chart.add_data(Reference(ws, min_col=4, min_row=head, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=head + 1, max_row=last))
    chart.height, chart.width = 8, 16
    ws.add_chart(chart, f"{get_column_letter(len(month_cols) + 2)}2")


def _pivot_table(ws: Any, s: Sheet, fc: Forecast) -> None:
    """Expected cost per month (rows) and project (columns)."""
    s.title("By month and project (expected cost, USD)")
    projects = list(fc.projects["project"])
    pivot = (
        fc.month_projects.pivot(index="month", columns="project", values="cost_usd")
        .reindex(columns=projects)
        .fillna(0.0)
    )
    recs = [{"month": m, **row.to_dict()} for m, row in pivot.iterrows()]
    pcols = ["month", *projects]
    start = s.row
    s.table(pcols, recs, heads={p: p for p in projects})
    for r in range(start + 1, start + 1 + len(recs)):
        for c in range(2, len(pcols) + 1):
            ws.cell(row=r, column=c).number_format = USD_FORMAT


def _jobs_sheet(wb: Any, fc: Forecast) -> None:
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet("Jobs")
    s = Sheet(ws)
    cols = list(fc.jobs.columns)
    s.table(cols, [], heads={c: head(c) for c in cols})
    s.row -= 1
    # one styled prototype cell per format; its style array is copied onto each data cell
    # (about 3x faster than setting number_format cell by cell on a 10,000-row sheet)
    scratch = wb.create_sheet("_styles")
    styles: dict[int, Any] = {}
    for i, c in enumerate(cols):
        fmt = number_format(c)
        if fmt:
            proto = scratch.cell(row=1, column=i + 1)
            proto.number_format = fmt
            styles[i] = proto._style
    wb.remove(scratch)
    # itertuples is far faster than to_dict for 10,000 rows
    for r, tup in enumerate(fc.jobs.itertuples(index=False, name=None), start=2):
        values = [cell_value(v) for v in tup]
        ws.append(values)
        for i, v in enumerate(values):
            if isinstance(v, str) and v.startswith("="):  # a job name: text, never a formula
                text_not_formula(ws.cell(row=r, column=i + 1), v)
        for i, style in styles.items():
            ws.cell(row=r, column=i + 1)._style = copy.copy(style)
    ws.freeze_panes = "C2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{len(fc.jobs) + 1}"
    s.widths({get_column_letter(i): 14 for i in range(1, len(cols) + 1)})
    ws.column_dimensions["B"].width = 28


def _assumptions_sheet(wb: Any, fc: Forecast) -> None:
    s = Sheet(wb.create_sheet("Assumptions"))
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
        *((f"What-if {n}", w.description) for n, w in fc.what_ifs.items()),
        *((("Budget rule", fc.budget.rule),) if fc.budget else ()),
    ):
        s.line(key, value)
    s.row += 1
    if a.get("prices"):
        s.title("Prices used (from the dated price table)")
        s.table(PRICE_COLUMNS, a["prices"])
    if a.get("mfu"):
        s.title("MFU assumed by the estimator for this plan")
        s.table(["gpu", "strategy", "precision", "mfu_assumed"], a["mfu"])
    priors = a.get("mfu_priors") or []
    if priors:
        s.title("Estimator priors (data/mfu_priors.csv)")
        s.table(list(priors[0].keys()), priors)
    s.widths({"A": 30, "B": 24, "C": 16, "D": 16, "E": 12, "F": 10, "G": 14, "H": 12, "I": 60})
