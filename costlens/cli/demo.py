"""CLI: `costlens demo`, the main job: a real scratch-versus-transfer experiment end to end."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from costlens.cli.common import DbOption, name_option, port_option, stdout_console


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:+.0%}"


def _usd(v: float | None) -> str:
    return "n/a" if v is None else f"${v:.7f}"


def demo(
    db: DbOption = None,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the dashboard at the end.")
    ] = True,
    host: name_option("--host", "Dashboard address (loopback).") = "127.0.0.1",
    port: port_option("Dashboard port.") = 8050,
    quick: Annotated[
        bool, typer.Option(help="One width, two budgets, a few epochs: a small experiment (tests).")
    ] = False,
) -> None:
    """Record a real transfer-learning experiment on the CPU, price it, fit, forecast, serve."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from costlens import demo as demo_mod
    from costlens.cli.common import open_cli_store
    from costlens.experiment import ExperimentConfig
    from costlens.paths import home_dir

    if serve:
        from dashboard.app import is_loopback

        if not is_loopback(host):
            from costlens.errors import UsageError

            raise UsageError(
                "the demo serves on loopback only; use `costlens dashboard --host ... --auth` "
                "to share a dashboard."
            )
    console = Console(stderr=True)
    store = open_cli_store(db)  # fails early, with one message, on a bad --db
    db_url = store.url
    store.dispose()
    cfg = ExperimentConfig.quick() if quick else ExperimentConfig()
    console.print(
        f"costlens demo: digits 0-4 -> 5-9 transfer experiment on the CPU, recorded into "
        f"{store.display_url}"
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("training", total=demo_mod.total_runs(cfg))

        def started(name: str) -> None:
            progress.update(task, description=f"training: {name}")

        def finished(_outcome) -> None:
            progress.advance(task)

        def stage(msg: str) -> None:
            progress.update(task, description=msg)

        result = demo_mod.run_demo(
            db_url,
            cfg=cfg,
            out_dir=home_dir(),
            on_run=finished,
            on_start=started,
            on_stage=stage,
        )
        progress.update(task, description="done")

    _print_results(result, cfg, console)
    if not serve:
        return
    from dashboard.app import create_app
    from dashboard.app import serve as serve_app

    console.print(f"dashboard: http://{host}:{port}/  (Ctrl-C to stop)")
    serve_app(create_app(db_url), host=host, port=port)


def _comparison_table(result: Any, cfg: Any) -> Any:
    """The measured per-budget comparison (``result.comparison``) as a rich Table."""
    from rich.table import Table

    table = Table(
        title="Measured on this machine: target task digits 5-9, target accuracy "
        f"{cfg.target_accuracy:.0%}"
    )
    for col in ("width", "labels", "strategy", "reached", "acc", "epochs", "time s", "FLOPs",
                "cost (CPU instance)", "vs scratch"):  # fmt: skip
        table.add_column(col, justify="right")
    for r in result.comparison:
        table.add_row(
            str(r["width"]), str(r["labelled_samples"]), r["strategy"],
            "yes" if r["reached_target"] else "NO", f"{r['accuracy']:.3f}", str(r["epochs"]),
            f"{r['duration_s']:.2f}", f"{r['flops']:.3g}", _usd(r["cost_usd"]),
            _pct(-r["saving_vs_scratch"]) if r["saving_vs_scratch"] is not None else "",
        )  # fmt: skip
    return table


def _payback_table(result: Any) -> Any:
    """After how many fine-tunes pretraining pays for itself (``result.payback``)."""
    from rich.table import Table

    pay = Table(title="Pretraining, measured: after how many fine-tunes it pays for itself")
    for col in ("width", "labels", "pretraining cost", "fine-tune saves per job", "break-even"):
        pay.add_column(col, justify="right")
    for r in result.payback:
        saved = r["saved_per_job_usd"]
        pay.add_row(
            str(r["width"]), str(r["labelled_samples"]), _usd(r["pretrain_cost_usd"]),
            _usd(saved) if saved is not None and saved > 0 else "no saving",
            f"{r['break_even_jobs']:.1f} jobs" if r["break_even_jobs"] else "never",
        )  # fmt: skip
    return pay


def _print_results(result: Any, cfg: Any, console: Any) -> None:
    """The demo's measured tables on stdout, its notes on stderr."""
    stdout_console().print(_comparison_table(result, cfg))
    console.print(
        "'vs scratch' is the measured cost change against training from scratch on the same "
        "budget (negative = transfer saved). It leaves out pretraining on digits 0-4, paid once "
        "and shared by every fine-tune:"
    )
    stdout_console().print(_payback_table(result))
    console.print(f"estimator fitted on {result.model_runs} recorded runs -> {result.model_path}")
    tot = result.forecast_total
    console.print(
        f"example plan forecast: ${tot['total_cost_usd']:,.0f} "
        f"(80% interval ${tot['total_cost_usd_low']:,.0f} - ${tot['total_cost_usd_high']:,.0f}) "
        f"-> {', '.join(str(p) for p in result.forecast_paths)}"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
