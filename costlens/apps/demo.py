"""``costlens demo``: record a real scratch-versus-transfer experiment, then use every part.

1. Runs :mod:`costlens.apps.experiment` on the CPU under the profiler (every run is recorded).
2. Prices the runs on the shipped cloud tables and reports, as measured, what transfer saved.
3. Fits the estimator on the recorded runs and saves it.
4. Writes a budget forecast of the example plan (``data/example_plan.csv``) to XLSX, CSV, JSON.
5. Serves the dashboard (unless ``serve=False``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

from costlens.apps.experiment import (
    PROJECT,
    SOURCE_TASK,
    TARGET_TASK,
    ExperimentConfig,
    RunOutcome,
    plan,
)
from costlens.core.vocab import SAVES

if TYPE_CHECKING:
    from costlens.price.tables import PriceTable

DEMO_SAMPLE_INTERVAL_S = 0.25  # short runs: sample often enough to see them


@dataclass
class DemoResult:
    db_url: str
    outcomes: list[RunOutcome]
    comparison: list[dict[str, Any]]
    cells: list[dict[str, Any]] = field(default_factory=list)
    payback: list[dict[str, Any]] = field(default_factory=list)
    model_path: Path | None = None
    model_runs: int = 0
    forecast_paths: list[Path] = field(default_factory=list)
    forecast_total: dict[str, float] = field(default_factory=dict)
    frontier: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    summary: str = ""


def record_experiment(
    db_url: str,
    cfg: ExperimentConfig,
    on_run: Callable[[RunOutcome], None] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> list[RunOutcome]:
    """Run the experiment with the profiler quiet (the demo prints its own summary)."""
    import costlens.apps.experiment as experiment

    outcomes = []
    for outcome in experiment.run_experiment(
        cfg, db=db_url, progress=on_start, sample_interval_s=DEMO_SAMPLE_INTERVAL_S, quiet=True
    ):
        outcomes.append(outcome)
        if on_run:
            on_run(outcome)
    return outcomes


def _median_of(runs: Any, key: Callable[[dict[str, Any]], Any]) -> float | None:
    values = [v for v in (key(r) for r in runs) if v is not None]
    return float(median(values)) if values else None


def _cell_row(strategy: str, runs: list[dict[str, Any]], cell: Any = None) -> dict[str, Any]:
    """One table row: a cell's medians over its repeats and, for transfer, its verdict. Dollars
    are the runs' billed cost (wall time on the instance, as ``costlens cost`` gives it);
    ``cpu_s``, the training thread's CPU seconds, is the separate figure the verdicts rest on.
    ``cost_to_target_usd``: the median, over the runs that reached the target, of each run's
    billed cost up to its first evaluation that reached it (its series held to the target,
    :func:`costlens.price.target.cost_to_target`; a run without a series: its whole cost)."""
    from costlens.apps.transfer import CPU_TIME_METRIC, RunFigures

    m = runs[0]["metrics"]
    figures = [RunFigures.from_record(r) for r in runs]
    reached = [f for f in figures if f.reached is True]
    to_target = [f.cost_to_target_usd if f.series_reached else f.cost_usd for f in reached]
    accuracy = [a for a in (f.series_best if f.series_best is not None else f.metric("accuracy")
                            for f in figures) if a is not None]  # fmt: skip
    row = {
        "width": int(m.get("width", 0)),
        "labels": int(m.get("labelled_samples", 0)),
        "strategy": strategy,
        "repeats": len(runs),
        "reached_target": len(reached),
        "accuracy": _median_of(runs, lambda r: r["metrics"].get("accuracy")),
        "best_accuracy": max(accuracy) if accuracy else None,
        "epochs": _median_of(runs, lambda r: r["metrics"].get("epochs")),
        "cpu_s": _median_of(runs, lambda r: r["metrics"].get(CPU_TIME_METRIC)),
        "wall_s": _median_of(runs, lambda r: r.get("duration_s")),
        "flops": _median_of(runs, lambda r: r.get("flops")),
        "cost_usd": _median_of(runs, lambda r: r.get("cost_usd")),
        "cost_to_target_usd": _median_of(to_target, lambda c: c),
        "saving_pct": None, "saving_pct_low": None, "saving_pct_high": None,
        "verdict": None, "basis": None, "method": None,
    }  # fmt: skip
    if cell is not None:
        row.update({k: v for k, v in cell.as_dict().items() if k.startswith("saving") or
                    k in ("verdict", "basis", "method")})  # fmt: skip
    return row


def compare_strategies(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per cell (width x labelled budget x strategy): each strategy's repeats next to scratch's.

    ``records`` are priced run records (:func:`costlens.apps.transfer.priced_records`) of the
    experiment. Only target-task runs are compared, each transfer cell with the scratch cell of
    the same model size and labelled data at equal quality (:func:`costlens.apps.quality.cells`):
    the saving among the runs that reached the target, its interval and verdict, measured on the
    training thread's CPU time. Scratch rows carry no saving. ``saved_usd`` is scratch's median
    billed cost to target minus transfer's (None where a side never reached it).
    """
    from costlens.apps import quality, transfer

    target = [r for r in records if (r.get("metrics") or {}).get("task") == TARGET_TASK]
    by_id = {str(r["id"]): r for r in target}
    rows: dict[tuple[int, int, str], dict[str, Any]] = {}
    for cell in quality.cells(transfer.RunFigures.from_record(r) for r in target):
        runs = [by_id[f.id] for f in cell.runs]
        scratch = [by_id[f.id] for f in cell.scratch]
        row, base = _cell_row(cell.strategy, runs, cell), _cell_row(transfer.SCRATCH, scratch)
        a, b = base["cost_to_target_usd"], row["cost_to_target_usd"]
        saved = None if a is None or b is None else a - b
        rows[(row["width"], row["labels"], row["strategy"])] = {**row, "saved_usd": saved}
        rows.setdefault((base["width"], base["labels"], base["strategy"]),
                        {**base, "saved_usd": None})  # fmt: skip
    return [rows[k] for k in sorted(rows)]


CELL_KEYS = ("width", "labels", "strategy", "repeats", "reached_target", "best_accuracy",
             "cost_usd", "cost_to_target_usd", "basis", "method", "saving_pct", "saving_pct_low",
             "saving_pct_high", "verdict")  # fmt: skip


def verdict_cells(comparison: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The transfer cells of ``comparison`` with their verdict keys (the JSON ``cells``)."""
    return [{k: r[k] for k in CELL_KEYS} for r in comparison if r["basis"] is not None]


def pretraining_payback(
    records: list[dict[str, Any]], comparison: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Per width: what pretraining on the source task cost, and after how many fine-tunes that
    saved money at equal quality (on the same width, per labelled-data budget) it pays for itself.

    ``break_even_jobs`` = pretraining cost / (scratch cost to target - fine-tune cost to target),
    the billed ``saved_usd`` of :func:`compare_strategies`; None where the fine-tune's verdict is
    not ``saves``. Measured figures only, billed dollars.
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
                "labels": c["labels"],
                "pretrain_cost_usd": p,
                "saved_per_job_usd": saved,
                "verdict": c["verdict"],
                "break_even_jobs": (p / saved)
                if p is not None and saved and saved > 0 and c["verdict"] == SAVES
                else None,
            }
        )
    return rows


def the_answer(
    records: list[dict[str, Any]], cfg: ExperimentConfig
) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """(the cost-quality frontier of the target-task runs per strategy, billed dollars; the
    summary line at the experiment's target accuracy)."""
    from dataclasses import asdict

    from costlens.apps import quality, transfer
    from costlens.core.fmt import percent

    target = [
        transfer.RunFigures.from_record(r)
        for r in records
        if (r.get("metrics") or {}).get("task") == TARGET_TASK
    ]
    front = quality.frontier(quality.run_points(target))
    line = quality.summary(quality.cells(target), percent(cfg.target_accuracy))
    return {s: [asdict(p) for p in points] for s, points in front.items()}, line


def fit_estimator(db_url: str, prices: PriceTable) -> tuple[Path, int]:
    """Fit the estimator on every usable run in the store and save it; (path, runs used)."""
    from costlens import estimator
    from costlens.store import OpenMode, open_store
    from costlens.store.queries import list_runs

    with open_store(db_url, OpenMode.WRITE) as store:
        model = estimator.fit_records(list_runs(store), prices=prices)
    return estimator.save_model(model, db=db_url), int(model.n_runs_)


def write_forecast(out_dir: Path, db_url: str) -> tuple[list[Path], dict[str, float]]:
    """Forecast the example plan with the store's saved estimator; XLSX, CSV and JSON in
    ``out_dir``."""
    from costlens import estimator
    from costlens.budget import files as export
    from costlens.budget import forecast
    from costlens.core.paths import data_dir

    model = estimator.saved_model(db_url)
    fc = forecast.forecast(data_dir() / "example_plan.csv", model=model)
    paths = [export.write(fc, out_dir / f"demo_forecast.{ext}") for ext in ("xlsx", "csv", "json")]
    total = fc.as_dict()
    keys = ("total_cost_usd", "total_cost_usd_low", "total_cost_usd_high")
    return paths, {k: float(total[k]) for k in keys}


def priced_experiment(
    db_url: str, outcomes: list[RunOutcome], prices: PriceTable, target: str | None = None
) -> list[dict[str, Any]]:
    """The recorded runs of ``outcomes``, read back from the store, priced, and held to the
    experiment's declared ``target`` (default: :attr:`ExperimentConfig.target`) over their
    metric series (:func:`costlens.price.target.with_target`, with the frontier's points)."""
    from costlens.apps.transfer import priced_records
    from costlens.price.target import parse_target, with_target
    from costlens.store import OpenMode, open_store
    from costlens.store.queries import list_runs

    goal = parse_target(target or ExperimentConfig().target)
    with open_store(db_url, OpenMode.WRITE) as store:
        ids = {o.run_id for o in outcomes}
        recorded = [r for r in list_runs(store, project=PROJECT) if r["id"] in ids]
        return with_target(store, priced_records(recorded, prices), goal, series=True)


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
    from costlens.price.tables import PriceTable

    cfg = cfg or ExperimentConfig()
    stage = on_stage or (lambda _msg: None)
    outcomes = record_experiment(db_url, cfg, on_run=on_run, on_start=on_start)
    stage("pricing the runs on the shipped cloud tables")
    prices = PriceTable.load()
    rows = priced_experiment(db_url, outcomes, prices, cfg.target)
    comparison = compare_strategies(rows)
    result = DemoResult(
        db_url=db_url,
        outcomes=outcomes,
        comparison=comparison,
        cells=verdict_cells(comparison),
        payback=pretraining_payback(rows, comparison),
    )
    result.frontier, result.summary = the_answer(rows, cfg)
    stage("fitting the estimator on the recorded runs")
    result.model_path, result.model_runs = fit_estimator(db_url, prices)
    stage("forecasting the example plan")
    result.forecast_paths, result.forecast_total = write_forecast(out_dir, db_url)
    return result


def total_runs(cfg: ExperimentConfig) -> int:
    return len(cfg.widths) + len(plan(cfg))
