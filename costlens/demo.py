"""``costlens demo``: record a real scratch-versus-transfer experiment, then use every part.

1. Runs :mod:`costlens.experiment` on the CPU under the profiler (every run is recorded).
2. Prices the runs on the shipped cloud tables and reports, as measured, what transfer saved.
3. Fits the estimator on the recorded runs and saves it.
4. Writes a budget forecast of the example plan (``data/example_plan.csv``) to XLSX, CSV, JSON.
5. Serves the dashboard (unless ``serve=False``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from costlens.experiment import PROJECT, ExperimentConfig, RunOutcome, plan

DEMO_SAMPLE_INTERVAL_S = 0.25  # short runs: sample often enough to see them


@dataclass
class DemoResult:
    db_url: str
    outcomes: list[RunOutcome]
    comparison: list[dict[str, Any]]
    payback: list[dict[str, Any]] = field(default_factory=list)
    model_path: Path | None = None
    model_runs: int = 0
    forecast_paths: list[Path] = field(default_factory=list)
    forecast_total: dict[str, float] = field(default_factory=dict)


def record_experiment(
    db_url: str,
    cfg: ExperimentConfig,
    on_run: Callable[[RunOutcome], None] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> list[RunOutcome]:
    """Run the experiment with the profiler quiet (the demo prints its own summary)."""
    import costlens.experiment as experiment

    previous = os.environ.get("COSTLENS_QUIET")
    os.environ["COSTLENS_QUIET"] = "1"
    try:
        outcomes = []
        for outcome in experiment.run_experiment(
            cfg, db=db_url, progress=on_start, sample_interval_s=DEMO_SAMPLE_INTERVAL_S
        ):
            outcomes.append(outcome)
            if on_run:
                on_run(outcome)
        return outcomes
    finally:
        if previous is None:
            os.environ.pop("COSTLENS_QUIET", None)
        else:
            os.environ["COSTLENS_QUIET"] = previous


def compare_strategies(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per labelled-data budget and width: each strategy's measured cost next to scratch's.

    ``records`` are run rows with cost keys (:func:`costlens.reports.run_rows`) of the experiment's
    target-task runs. Savings are measured, never assumed: negative when transfer cost more.
    """
    target = [r for r in records if r.get("metrics", {}).get("task") == "digits 5-9"]
    groups: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    for r in target:
        width = int(r["metrics"].get("width", 0))
        labels = int(r["metrics"].get("labelled_samples", 0))
        groups.setdefault((width, labels), {})[r["strategy"]] = r
    rows = []
    for (width, labels), by in sorted(groups.items()):
        scratch = by.get("scratch")
        for strategy, r in sorted(by.items()):
            cost, base = r.get("cost_usd"), scratch.get("cost_usd") if scratch else None
            saving = (1 - cost / base) if cost is not None and base else None
            rows.append(
                {
                    "width": width,
                    "labelled_samples": labels,
                    "strategy": strategy,
                    "reached_target": bool(r["metrics"].get("reached_target")),
                    "accuracy": r["metrics"].get("accuracy"),
                    "epochs": r["metrics"].get("epochs"),
                    "duration_s": r["duration_s"],
                    "flops": r["flops"],
                    "cost_usd": cost,
                    "saving_vs_scratch": saving if strategy != "scratch" else None,
                }
            )
    return rows


def pretraining_payback(
    records: list[dict[str, Any]], comparison: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per width: what pretraining on the source task cost, and after how many fine-tunes that
    saved money (on the same width, per labelled-data budget) it pays for itself.

    ``break_even_jobs`` = pretraining cost / (scratch cost - fine-tune cost); None where the
    fine-tune did not save. Measured figures only.
    """
    pretrain = {
        int(r["metrics"].get("width", 0)): r.get("cost_usd")
        for r in records
        if r.get("metrics", {}).get("task") == "digits 0-4"
    }
    scratch = {(c["width"], c["labelled_samples"]): c["cost_usd"] for c in comparison
               if c["strategy"] == "scratch"}  # fmt: skip
    rows = []
    for c in comparison:
        if c["strategy"] != "full-finetune":
            continue
        p, s, f = (
            pretrain.get(c["width"]),
            scratch.get((c["width"], c["labelled_samples"])),
            c["cost_usd"],
        )
        saved = None if s is None or f is None else s - f
        rows.append(
            {
                "width": c["width"],
                "labelled_samples": c["labelled_samples"],
                "pretrain_cost_usd": p,
                "saved_per_job_usd": saved,
                "break_even_jobs": (p / saved) if p is not None and saved and saved > 0 else None,
            }
        )
    return rows


def fit_estimator(db_url: str) -> tuple[Path, int]:
    """Fit the estimator on every usable run in the store and save it; (path, runs used)."""
    from costlens import estimator
    from costlens.store import open_store
    from costlens.store.queries import list_runs

    store = open_store(db_url)
    try:
        model = estimator.fit_records(list_runs(store))
    finally:
        store.dispose()
    return estimator.save_model(model), int(model.n_runs_)


def write_forecast(out_dir: Path) -> tuple[list[Path], dict[str, float]]:
    """Forecast the example plan with the saved estimator; XLSX, CSV and JSON in ``out_dir``."""
    from costlens import estimator, export, forecast
    from costlens.paths import data_dir

    fc = forecast.forecast(data_dir() / "example_plan.csv", model=estimator.load_model())
    paths = [export.write(fc, out_dir / f"demo_forecast.{ext}") for ext in ("xlsx", "csv", "json")]
    total = fc.as_dict()
    keys = ("total_cost_usd", "total_cost_usd_low", "total_cost_usd_high")
    return paths, {k: float(total[k]) for k in keys}


def run_demo(
    db_url: str,
    *,
    cfg: ExperimentConfig | None = None,
    out_dir: Path,
    on_run: Callable[[RunOutcome], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> DemoResult:
    """Everything but serving: record, price, fit, forecast."""
    from costlens.catalog import PriceTable
    from costlens.reports import run_rows
    from costlens.store import open_store

    cfg = cfg or ExperimentConfig()
    stage = on_stage or (lambda _msg: None)
    outcomes = record_experiment(db_url, cfg, on_run=on_run, on_start=on_start)
    stage("pricing the runs on the shipped cloud tables")
    store = open_store(db_url)
    try:
        ids = {o.run_id for o in outcomes}
        rows = [r for r in run_rows(store, PriceTable.load(), project=PROJECT) if r["id"] in ids]
    finally:
        store.dispose()
    comparison = compare_strategies(rows)
    result = DemoResult(
        db_url=db_url,
        outcomes=outcomes,
        comparison=comparison,
        payback=pretraining_payback(rows, comparison),
    )
    stage("fitting the estimator on the recorded runs")
    result.model_path, result.model_runs = fit_estimator(db_url)
    stage("forecasting the example plan")
    result.forecast_paths, result.forecast_total = write_forecast(out_dir)
    return result


def total_runs(cfg: ExperimentConfig) -> int:
    return len(cfg.widths) + len(plan(cfg))
