"""CLI: `costlens forecast PLAN`: a plan of training jobs -> budget with 80% intervals."""

from __future__ import annotations

import contextlib
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from costlens.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    checked,
    count_parser,
    path_argument,
    path_option,
    quantity_parser,
    stdout_console,
)
from costlens.core import validate
from costlens.core.errors import UsageError
from costlens.core.fmt import money as _usd
from costlens.core.fmt import number, percent, span

if TYPE_CHECKING:  # pragma: no cover
    from costlens.budget.forecast import Forecast

PROGRESS_MIN_JOBS = 500  # plans at least this long get a progress bar on stderr


def _transfer_strategy(value: str, what: str) -> str:
    from costlens.core.vocab import TRANSFER_STRATEGIES, normalize_strategy

    try:
        return normalize_strategy(value, allowed=TRANSFER_STRATEGIES)
    except UsageError as exc:
        raise validate.InputError(f"{what}: {exc}") from None


class BudgetPeriod(str, Enum):
    month = "month"
    total = "total"


def _range(rec: dict, key: str) -> str:
    """The P10-P90 bounds as ``-$900 to $1,651`` (never ``$-899.66-$1,651``)."""
    return span(rec[f"{key}_low"], rec[f"{key}_high"])


def _table(title: str, rows: list[dict]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for i, col in enumerate(rows[0]):
        table.add_column(col, justify="left" if i == 0 else "right", no_wrap=i > 0)
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    return table


def _summary_rows(records: list[dict], key: str, budget: bool) -> list[dict]:
    rows = []
    for r in records:
        row = {
            key: r[key],
            "runs": r["runs"],
            "cost": _usd(r["cost_usd"]),
            "cost P10-P90": _range(r, "cost_usd"),
            "GPU-h": number(r["gpu_hours"]),
            "kWh": number(r["energy_kwh"]),
        }
        if budget:
            p = r.get("p_over_budget")
            row["P(over)"] = percent(p)
        rows.append(row)
    return rows


def _print_table(fc: Forecast) -> None:
    console = stdout_console()
    b = fc.budget
    months = fc.months.to_dict(orient="records")
    total: dict[str, Any] = {"month": "total", **fc.total.as_dict()}
    if b and b.period != "month":
        total["p_over_budget"] = b.periods[0].p_over_budget
    console.print(
        _table(
            "Forecast by month (USD; P10-P90 = 80% interval)",
            _summary_rows([*months, total], "month", bool(b)),
        )
    )
    console.print(
        _table("By project", _summary_rows(fc.projects.to_dict(orient="records"), "project", False))
    )
    if fc.what_ifs:
        rows = [
            {
                "what-if": name,
                "jobs changed": w.jobs_changed,
                "cost": _usd(w.total_cost_usd),
                "savings": _usd(w.savings_usd),
                "savings P10-P90": _range(w.as_dict(), "savings_usd"),
            }
            for name, w in fc.what_ifs.items()
        ]
        console.print(_table("What-ifs (same plan, same random draws)", rows))
        for name, w in fc.what_ifs.items():
            console.print(f"[dim]{name}: {w.description}[/dim]")
    if b:
        over = ", ".join(b.over_months) or "none"
        console.print(
            f"Budget {_usd(b.budget_usd)} per {b.period}: over in {over} "
            "(expected cost above the budget; P(over) from the simulation)."
        )
    _price_caveats(console, fc.assumptions.get("prices") or [])
    unknown = fc.total.energy_unknown_jobs
    if unknown:
        console.print(f"[dim]energy unknown for {unknown} job(s) (no TDP in the spec table).[/dim]")
    sim = fc.assumptions["simulation"]
    console.print(
        f"[dim]{fc.total.jobs} jobs, {fc.total.runs} runs; {sim['n_sims']} simulations, "
        f"seed {sim['seed']}, correlation between jobs {sim['correlation']}.[/dim]"
    )


def _price_caveats(console: Any, rows: list[dict]) -> None:
    """Say when the forecast is priced on an UNCONFIRMED row, or on an instance with more GPUs
    than a job uses (the whole instance is billed)."""
    doubtful = [
        f"{r['provider']} {r['instance_type']}" for r in rows if r.get("confirmed") is False
    ]
    if doubtful:
        console.print(
            f"Priced on UNCONFIRMED price row(s): {', '.join(doubtful)} (their note says why; "
            "`costlens prices --format json` shows it).",
            markup=False,
            highlight=False,
        )
    whole = [r for r in rows if r.get("whole_instance_billed")]
    for r in whole:
        console.print(
            f"{r['provider']} {r['instance_type']} has {r['instance_gpus']} GPUs at "
            f"{_usd(r.get('usd_per_instance_hour'))} per instance-hour: the whole instance is "
            "billed for jobs on fewer GPUs.",
            markup=False,
            highlight=False,
        )


class _Progress:
    """A rich progress bar on stderr, one task per stage (estimating, simulating, what-ifs)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.tasks: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total)
        self.bar.update(self.tasks[stage], completed=done, total=total)

    def __enter__(self) -> _Progress:
        self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.stop()


def forecast_cmd(
    plan: path_argument(
        "PLAN",
        "Plan file (.csv, .xlsx, .toml or .yaml): one planned job per row. Required columns: "
        "name, month (YYYY-MM), strategy, params (7B), gpu, gpus, and tokens (per epoch) or "
        "samples with seq_len. Optional: provider (default: the cheapest), repeats (default 1), "
        "project, epochs, packing, instance, spot, precision, trainable_fraction, "
        "labelled_samples with usd_per_label, transfer_tokens. See docs/plans.md and "
        "data/example_plan.csv.",
    ),
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            help="Budget in USD (per month, or see --budget-period); 4k, 1.5M.",
            parser=quantity_parser("--budget", above=True),
        ),
    ] = None,
    budget_period: Annotated[
        BudgetPeriod,
        typer.Option("--budget-period", help="Whether --budget is per month or for the total."),
    ] = BudgetPeriod.month,
    out: path_option("--out", "Also write the forecast to FILE.xlsx, .csv or .json.", "-o") = None,
    sims: Annotated[
        int,
        typer.Option(
            "--sims",
            help="Monte Carlo simulations (at least 100; 10k, 1M).",
            parser=count_parser("--sims", minimum=100),
        ),
    ] = 10_000,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            help="Random seed, 0 to 2**63-1 (same seed, same figures).",
            parser=checked("--seed", validate.seed),
        ),
    ] = 20_240_601,
    correlation: Annotated[
        float,
        typer.Option(
            "--correlation",
            help="Shared error between jobs, 0 (independent) to 1 (all off together).",
            parser=quantity_parser("--correlation", maximum=1.0),
        ),
    ] = 0.0,
    transfer_strategy: Annotated[
        str,
        typer.Option(
            "--transfer-strategy",
            help="Strategy of the transfer what-if: lora or full-finetune.",
            parser=checked("--transfer-strategy", _transfer_strategy),
        ),
    ] = "lora",
    prices: path_option("--prices", "Price file overriding the shipped tables (CSV).") = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Forecast a plan of training jobs: cost per job, month and project with 80% intervals."""
    _run(
        plan, out=out, prices=prices, db=db, fmt=fmt, n_sims=sims, seed=seed,
        correlation=correlation, budget_usd=budget, budget_period=budget_period.value,
        transfer_strategy=transfer_strategy,
    )  # fmt: skip


def _run(plan: Path, *, out, prices, db, fmt: OutputFormat, **options: Any) -> None:
    """Load the prices and the plan, forecast, write ``out`` and print in ``fmt``."""
    from costlens.budget.files import format_for, to_csv, to_json, write
    from costlens.budget.forecast import ForecastOptions, forecast
    from costlens.budget.plan import load_plan
    from costlens.price.tables import PriceTable

    if out is not None:
        format_for(out)  # a bad suffix is refused before any work
    price_table = PriceTable.load(prices)
    jobs = load_plan(plan, prices=price_table)
    model = None
    if db is not None:
        from costlens.estimator import load_model

        model = load_model(db)
    big = len(jobs) >= PROGRESS_MIN_JOBS
    with _Progress() if big else contextlib.nullcontext() as progress:
        fc = forecast(
            jobs, ForecastOptions(**options), prices=price_table, model=model, progress=progress,
            source=plan,
        )  # fmt: skip
    if out is not None:
        from rich.console import Console

        console = Console(stderr=True)
        with console.status(f"writing {out}") if big else contextlib.nullcontext():
            write(fc, out)
        console.print(f"wrote {out}")
    if fmt is OutputFormat.json:
        sys.stdout.write(to_json(fc) + "\n")
    elif fmt is OutputFormat.csv:
        to_csv(fc, sys.stdout)
    else:
        _print_table(fc)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("forecast")(forecast_cmd)
