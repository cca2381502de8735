"""The transfer-versus-scratch page: :func:`costlens.apps.transfer.analyse` on one project's runs,
as DataFrames for the figures and sentences for the notes; the commonly claimed saving (a
quoted industry claim from data/claims.csv, never a costlens figure)."""

from __future__ import annotations

import csv
from typing import Any

import pandas as pd

from costlens.apps import transfer
from costlens.core.paths import data_dir
from costlens.core.vocab import TRANSFER_STRATEGIES, VERDICTS
from costlens.price.tables import PriceTable
from costlens.store import runs_page as dashboard_queries
from costlens.store.db import Store
from costlens.store.queries import list_runs
from dashboard.fmt import rounded

TRANSFER_RUNS_PER_STRATEGY = 60  # the newest completed runs of each strategy (two demos' worth)
CLAIMS_FILE = data_dir() / "claims.csv"  # a dated reference table like the others in data/
RUN_COLUMNS = ["label", "cell", "id", "name", "strategy", "cost_usd", "duration_h",
               "energy_kwh", "labelled", "metric", "params"]  # fmt: skip
COMPARISON_COLUMNS = ["label", "saving_pct", "saving_pct_low", "saving_pct_high", "verdict",
                      "basis", "repeats", "reached"]  # fmt: skip
SINGLE_RUN = "single run: no interval"  # the verdict column of an unrepeated comparison
# (figure column, budget name, why it can be missing) for the "not measured" sentences
MEASURED = (
    ("cost_usd", "Cost", "no run could be priced (no matching instance in the price table)"),
    ("energy_kwh", "Energy", "no energy counter was recorded (CPU-only runs have no GPU power "
     "meter, and costlens does not guess a figure)"),
    ("labelled", "Labelled data", "no run logged labelled_samples or samples"),
)  # fmt: skip
SAVING_COLUMNS = ["label", "budget", "scratch", "transfer", "saving_pct", "basis"]
ROI_COLUMNS = ["label", "savings_usd", "roi", "basis"]


def claimed_saving() -> dict[str, Any]:
    """The commonly claimed transfer-learning saving: its wording, percentage, source, date."""
    with CLAIMS_FILE.open(newline="", encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["key"] == "transfer_learning_saving")
    return {
        "saving_pct": float(row["saving_pct"]),
        "wording": row["wording"],
        "source": row["source"],
        "as_of": row["as_of"],
    }


def transfer_projects(store: Store) -> list[str]:
    """Projects with at least one completed scratch run and one completed transfer run."""
    return dashboard_queries.transfer_projects(store, TRANSFER_STRATEGIES)


def _runs_frame(
    analysis: transfer.TransferAnalysis, metric: str | None, cells: list[transfer.Cell]
) -> pd.DataFrame:
    cell_of = {r.id: c.label for c in cells for r in c.runs}
    cell_of.update({r.id: f"{_scratch_label(c)}" for c in cells for r in c.scratch})
    rows = [
        {"label": r.label, "cell": cell_of.get(r.id, r.label), "id": r.id, "name": r.name,
         "strategy": r.strategy,
         "cost_usd": rounded(r.cost_usd, 6), "duration_h": rounded(r.duration_h, 6),
         "energy_kwh": rounded(r.energy_kwh, 6), "labelled": rounded(r.labelled, 0),
         "metric": rounded(r.metric(metric), 6) if metric else None, "params": r.params}
        for r in analysis.runs
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def _scratch_label(c: transfer.Cell) -> str:
    return c.label.rsplit(" \u00d7 ", 1)[0] + f" \u00d7 {transfer.SCRATCH}"


def _comparisons(analysis: transfer.TransferAnalysis, cells: list[transfer.Cell]) -> pd.DataFrame:
    """One row per comparison for the savings figure: the repeated cells with their intervals
    and verdicts when there are any, else each transfer run against its scratch runs (no
    interval), on cost when priced, else wall time."""
    if cells:
        rows = [{**c.as_dict(), "label": c.label, "reached": c.reached()} for c in cells]
    else:
        rows = []
        for p in analysis.pairs:
            s = p.saving("cost") or p.saving("time")
            if s is not None:
                rows.append({"label": p.transfer.label, "saving_pct": s.saving_pct,
                             "saving_pct_low": None, "saving_pct_high": None,
                             "verdict": SINGLE_RUN, "basis": s.budget, "repeats": 1,
                             "reached": None})  # fmt: skip
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def unmeasured(runs: pd.DataFrame) -> list[str]:
    """A sentence for each budget that no compared run measured, saying why."""
    if runs.empty:
        return []
    return [
        f"{name} is not shown: {why}."
        for column, name, why in MEASURED
        if pd.to_numeric(runs[column], errors="coerce").isna().all()
    ]


def _notes(analysis: transfer.TransferAnalysis, metric: str | None) -> list[str]:
    notes = []
    if not analysis.scratch_runs or not analysis.transfer_runs:
        notes.append(
            "A comparison needs at least one completed scratch run and one completed transfer "
            "run in this project."
        )
    for p in analysis.pairs:
        label = p.transfer.label
        for s in p.savings:
            if s.saving_pct < 0:
                notes.append(
                    f"{label} did not save on {s.budget}: it used {-s.saving_pct:.0f}% more "
                    f"than training from scratch ({p.basis})."
                )
        value, base = p.transfer.metric(metric), p.scratch_metric(metric)
        if metric and value is not None and base is not None:
            notes.append(
                f"{label}: final {metric} {value:.4g} against {base:.4g} from scratch ({p.basis})."
            )
    if analysis.transfer_runs and all(r.cost_usd is None for r in analysis.runs):
        notes.append("No run could be priced: cost savings and ROI are not shown.")
    return notes


def _analysis(store: Store, prices: PriceTable | None, project: str) -> transfer.TransferAnalysis:
    return transfer.analyse(
        list_runs(store, project=project),
        prices=prices,
        newest_per_strategy=TRANSFER_RUNS_PER_STRATEGY,
    )


def _verdict(analysis: transfer.TransferAnalysis, cells: list[transfer.Cell]) -> str:
    if cells:
        counts = ", ".join(f"{sum(c.verdict == v for c in cells)} {v}" for v in VERDICTS)
        repeats = sorted({len(c.runs) for c in cells})
        return (
            f"Measured on this project's runs, {len(cells)} comparisons (width \u00d7 labels "
            f"\u00d7 strategy, {'/'.join(map(str, repeats))} repeats each, on "
            f"{cells[0].basis}): {counts}. 'Within noise': the 95% interval holds 0."
        )
    if analysis.priced:
        return (
            "Measured on this project's runs: transfer cost less than training from scratch in "
            f"{analysis.cheaper} of {len(analysis.priced)} priced comparisons (single runs, "
            "no interval: repeat each run to get one)."
        )
    return ""


def transfer_comparison(
    store: Store, prices: PriceTable, project: str, metric: str | None = None
) -> dict[str, Any]:
    """Recorded runs of one project side by side, and what transfer saved against scratch.

    Only completed runs count, the newest TRANSFER_RUNS_PER_STRATEGY of each strategy. Returns
    {"runs": DataFrame (RUN_COLUMNS), "savings": DataFrame (SAVING_COLUMNS), "roi": DataFrame
    (ROI_COLUMNS), "comparisons": DataFrame (COMPARISON_COLUMNS: repeated cells with their
    interval and verdict, else single pairs), "unmeasured": [str], "notes": [str],
    "verdict": str, "metric": str|None, "metrics": [str],
    "excluded": int, "scratch_runs": int, "older": int}.
    """
    analysis = _analysis(store, prices, project)
    cells = transfer.cells(analysis.runs)
    metrics = analysis.metric_names()
    metric = metric if metric in metrics else (metrics[0] if metrics else None)
    savings = [
        {"label": p.transfer.label, "budget": s.budget, "scratch": s.scratch,
         "transfer": s.transfer, "saving_pct": s.saving_pct, "basis": p.basis}
        for p in analysis.pairs
        for s in p.savings
    ]  # fmt: skip
    roi = [{"label": p.transfer.label, "savings_usd": p.savings_usd, "roi": p.roi,
            "basis": p.basis} for p in analysis.pairs if p.roi is not None]  # fmt: skip
    runs = _runs_frame(analysis, metric, cells)
    return {
        "runs": runs,
        "comparisons": _comparisons(analysis, cells),
        "unmeasured": unmeasured(runs),
        "savings": pd.DataFrame(savings, columns=SAVING_COLUMNS),
        "roi": pd.DataFrame(roi, columns=ROI_COLUMNS),
        "notes": _notes(analysis, metric),
        "verdict": _verdict(analysis, cells),
        "metric": metric,
        "metrics": metrics,
        "excluded": analysis.excluded,
        "scratch_runs": len(analysis.scratch_runs),
        "older": analysis.older,
    }


def transfer_metrics(store: Store, project: str | None) -> tuple[list[str], str | None]:
    """(numeric metrics logged by the project's compared runs, the default one)."""
    if not project:
        return [], None
    metrics = _analysis(store, None, project).metric_names()
    return metrics, (metrics[0] if metrics else None)
