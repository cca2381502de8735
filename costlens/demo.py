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
from typing import TYPE_CHECKING, Any

from costlens.experiment import (
    PROJECT,
    SOURCE_TASK,
    TARGET_TASK,
    ExperimentConfig,
    RunOutcome,
    plan,
)

if TYPE_CHECKING:
    from costlens.catalog import PriceTable

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

    ``records`` are priced run records (:func:`costlens.transfer.priced_records`) of the
    experiment. Only target-task runs are compared, each transfer run with the scratch run of
    the same model size and labelled data (:func:`costlens.transfer.analyse`). Savings are
    measured, never assumed: negative when transfer cost more.
    """
    from costlens import transfer

    target = [r for r in records if (r.get("metrics") or {}).get("task") == TARGET_TASK]
    pairs = {p.transfer.id: p for p in transfer.analyse(target).pairs if p.exact}
    rows = []
    for r in target:
        m = r["metrics"]
        p = pairs.get(str(r["id"]))
        cost = p.saving("cost") if p else None
        rows.append(
            {
                "width": int(m.get("width", 0)),
                "labelled_samples": int(m.get("labelled_samples", 0)),
                "strategy": r["strategy"],
                "reached_target": bool(m.get("reached_target")),
                "accuracy": m.get("accuracy"),
                "epochs": m.get("epochs"),
                "duration_s": r["duration_s"],
                "flops": r["flops"],
                "cost_usd": r.get("cost_usd"),
                "saving_vs_scratch": None if cost is None else cost.saving_pct / 100,
                "saved_usd": p.savings_usd if p else None,
            }
        )
    rows.sort(key=lambda c: (c["width"], c["labelled_samples"], c["strategy"]))
    return rows


def pretraining_payback(
    records: list[dict[str, Any]], comparison: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per width: what pretraining on the source task cost, and after how many fine-tunes that
    saved money (on the same width, per labelled-data budget) it pays for itself.

    ``break_even_jobs`` = pretraining cost / (scratch cost - fine-tune cost), the saving of
    :func:`compare_strategies`; None where the fine-tune did not save. Measured figures only.
    """
    pretrain = {
        int(r["metrics"].get("width", 0)): r.get("cost_usd")
        for r in records
        if (r.get("metrics") or {}).get("task") == SOURCE_TASK
    }
    rows = []
    for c in comparison:
        if c["strategy"] != "full-finetune":
            continue
        p, saved = pretrain.get(c["width"]), c["saved_usd"]
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


def fit_estimator(db_url: str, prices: PriceTable) -> tuple[Path, int]:
    """Fit the estimator on every usable run in the store and save it; (path, runs used)."""
    from costlens import estimator
    from costlens.store import open_store
    from costlens.store.queries import list_runs

    store = open_store(db_url)
    try:
        model = estimator.fit_records(list_runs(store), prices=prices)
    finally:
        store.dispose()
    return estimator.save_model(model, db=db_url), int(model.n_runs_)


def write_forecast(out_dir: Path, db_url: str) -> tuple[list[Path], dict[str, float]]:
    """Forecast the example plan with the store's saved estimator; XLSX, CSV and JSON in
    ``out_dir``."""
    from costlens import estimator, export, forecast
    from costlens.paths import data_dir

    model = estimator.saved_model(db_url)
    fc = forecast.forecast(data_dir() / "example_plan.csv", model=model)
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
    from costlens.store import open_store
    from costlens.store.queries import list_runs
    from costlens.transfer import priced_records

    cfg = cfg or ExperimentConfig()
    stage = on_stage or (lambda _msg: None)
    outcomes = record_experiment(db_url, cfg, on_run=on_run, on_start=on_start)
    stage("pricing the runs on the shipped cloud tables")
    store = open_store(db_url)
    try:
        ids = {o.run_id for o in outcomes}
        recorded = [r for r in list_runs(store, project=PROJECT) if r["id"] in ids]
    finally:
        store.dispose()
    prices = PriceTable.load()
    rows = priced_records(recorded, prices)
    comparison = compare_strategies(rows)
    result = DemoResult(
        db_url=db_url,
        outcomes=outcomes,
        comparison=comparison,
        payback=pretraining_payback(rows, comparison),
    )
    stage("fitting the estimator on the recorded runs")
    result.model_path, result.model_runs = fit_estimator(db_url, prices)
    stage("forecasting the example plan")
    result.forecast_paths, result.forecast_total = write_forecast(out_dir, db_url)
    return result


def total_runs(cfg: ExperimentConfig) -> int:
    return len(cfg.widths) + len(plan(cfg))
