"""The transfer-versus-scratch page: the answer at equal quality for one project's runs
(:func:`costlens.apps.quality.cells` on :func:`costlens.apps.transfer.analyse`), the cost-quality
frontier, the pretraining payback; the commonly claimed saving (a quoted industry claim from
data/claims.csv, never a costlens figure). Per-run rows live in the runs table."""

from __future__ import annotations

import csv
from dataclasses import asdict
from statistics import median
from typing import Any
from urllib.parse import quote

import pandas as pd

from costlens.apps import quality, transfer
from costlens.apps.experiment import SOURCE_TASK
from costlens.core.fmt import percent
from costlens.core.paths import data_dir
from costlens.core.vocab import REACH_VERDICTS, TRANSFER_STRATEGIES, VERDICTS
from costlens.price.tables import PriceTable
from costlens.store import runs_page as dashboard_queries
from costlens.store.db import Store
from costlens.store.queries import list_runs

TRANSFER_RUNS_PER_STRATEGY = 60  # the newest completed runs of each strategy (two demos' worth)
CLAIMS_FILE = data_dir() / "claims.csv"  # a dated reference table like the others in data/
CELL_COLUMNS = ["label", "strategy", "reached", "scratch_reached", "best_accuracy",
                "cost_to_target_usd", "scratch_cost_to_target_usd", "saving_pct",
                "saving_pct_low", "saving_pct_high", "verdict", "basis", "method"]  # fmt: skip
COMPARISON_COLUMNS = ["label", "saving_pct", "saving_pct_low", "saving_pct_high", "verdict",
                      "basis", "repeats", "reached"]  # fmt: skip
SINGLE_RUN = "single run: no interval"  # the verdict column of an unrepeated comparison


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


def _comparisons(analysis: transfer.TransferAnalysis, cells: list[quality.Cell]) -> pd.DataFrame:
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


def _analysis(store: Store, prices: PriceTable | None, project: str) -> transfer.TransferAnalysis:
    """The project's runs analysed; priced ones held to the target they declared
    (``target_accuracy``) over their metric series, as the demo holds them
    (:func:`costlens.price.target.with_target`: reach, cost to target, frontier points)."""
    from costlens.price.target import Target, with_target

    records = list_runs(store, project=project)
    if prices is None:
        return transfer.analyse(records, newest_per_strategy=TRANSFER_RUNS_PER_STRATEGY)
    kept, excluded, older = transfer.select_runs(records, TRANSFER_RUNS_PER_STRATEGY)
    priced = transfer.priced_records(kept, prices)
    declared = [(r.get("metrics") or {}).get("target_accuracy") for r in priced]
    levels = [float(v) for v in declared if transfer.number(v) is not None]
    if levels:
        goal = Target(transfer.TARGET_METRIC, ">=", float(median(levels)))
        priced = with_target(store, priced, goal, series=True)
    analysis = transfer.analyse(priced)  # already selected and priced
    return transfer.TransferAnalysis(analysis.runs, analysis.pairs, excluded, older)


def _target(analysis: transfer.TransferAnalysis) -> float | None:
    """The quality target the runs declared (``target_accuracy``, the median), else None."""
    values = [v for v in (r.metric("target_accuracy") for r in analysis.runs) if v is not None]
    return float(median(values)) if values else None


def _to_target(runs: tuple[transfer.RunFigures, ...]) -> float | None:
    """Median billed cost to target of the runs that reached it (up to the first evaluation
    that reached it where the run has a series, else its whole cost; None: none did)."""
    to_target = [r.cost_to_target_usd if r.series_reached else r.cost_usd for r in runs
                 if r.reached]  # fmt: skip
    costs = [c for c in to_target if c is not None]
    return float(median(costs)) if costs else None


def _cell_rows(found: list[quality.Cell]) -> pd.DataFrame:
    rows = [
        {**c.as_dict(), "label": c.label,
         "reached": f"{c.reached()}/{len(c.runs)}",
         "scratch_reached": f"{c.scratch_reached()}/{len(c.scratch)}",
         "cost_to_target_usd": _to_target(c.runs),
         "scratch_cost_to_target_usd": _to_target(c.scratch)}
        for c in found
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


def _frontier(analysis: transfer.TransferAnalysis) -> list[dict[str, Any]]:
    front = quality.frontier(quality.run_points(analysis.runs))
    return [asdict(p) for points in front.values() for p in points]


def _payback(store: Store, prices: PriceTable | None, project: str) -> list[dict[str, Any]]:
    """The demo's pretraining payback when the project has its source-task runs, else []."""
    from costlens.apps import demo

    if prices is None:
        return []
    records = transfer.priced_records(list_runs(store, project=project), prices)
    if not any((r.get("metrics") or {}).get("task") == SOURCE_TASK for r in records):
        return []
    return demo.pretraining_payback(records, demo.compare_strategies(records))


def _verdict(analysis: transfer.TransferAnalysis, found: list[quality.Cell]) -> str:
    if not found:
        if not analysis.priced:
            return ""
        return (
            "No repeated cell: each transfer run against its scratch runs, whole runs (no quality "
            f"target logged), single runs with no interval: transfer cost less in "
            f"{analysis.cheaper} of {len(analysis.priced)} priced comparisons."
        )
    counts = {v: sum(c.verdict == v for c in found) for v in (*VERDICTS, *REACH_VERDICTS)}
    said = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    repeats = "/".join(map(str, sorted({len(c.runs) for c in found})))
    return (
        f"{len(found)} comparisons (width \u00d7 labels \u00d7 strategy, {repeats} repeats "
        f"each; {found[0].method}; saving on {found[0].basis}, 95% interval): {said}."
    )


def transfer_comparison(store: Store, prices: PriceTable, project: str) -> dict[str, Any]:
    """The transfer answer for one project, at equal quality where the runs logged their target.

    Only completed runs count, the newest TRANSFER_RUNS_PER_STRATEGY of each strategy. Returns
    {"summary": str (the answer in a line), "verdict": str (how the cells were compared),
    "cells": DataFrame (CELL_COLUMNS), "comparisons": DataFrame (COMPARISON_COLUMNS: cells with
    a saving, else single pairs), "frontier_points": [FrontierPoint as dict], "target": float
    or None, "metric": str, "payback": [row], "runs_link": str, "excluded", "older",
    "scratch_runs": int}. Dollars are the runs' bill (as ``costlens cost`` gives them).
    """
    analysis = _analysis(store, prices, project)
    found = quality.cells(analysis.runs)
    target = _target(analysis)
    cmp = _comparisons(analysis, found)
    return {
        "summary": quality.summary(found, percent(target) if target else "the target")
        if found else "",
        "verdict": _verdict(analysis, found),
        "cells": _cell_rows(found),
        "comparisons": cmp[pd.to_numeric(cmp["saving_pct"], errors="coerce").notna()],
        "frontier_points": _frontier(analysis),
        "target": target,
        "metric": transfer.TARGET_METRIC,
        "payback": _payback(store, prices, project),
        "runs_link": f"/runs?project={quote(project)}",
        "excluded": analysis.excluded,
        "scratch_runs": len(analysis.scratch_runs),
        "older": analysis.older,
    }  # fmt: skip
