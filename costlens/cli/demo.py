"""CLI: `costlens demo`, the main job: a real scratch-versus-transfer experiment end to end."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer

from costlens.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    dumps_json,
    stderr,
    stdout_console,
)
from costlens.vocab import VERDICTS


def _pct(v: float | None) -> str:
    return "" if v is None else f"{v:+.0%}"


def _usd(v: float | None) -> str:
    return "n/a" if v is None else f"${v:.7f}"


def check_port_free(host: str, port: int) -> None:
    """UsageError (exit 2) when ``host:port`` cannot be bound: checked BEFORE the experiment."""
    import socket

    from costlens.errors import UsageError

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"port {port} on {host} is not free ({exc.strerror}); choose another with "
                "--port N, or run with --no-serve."
            ) from None


def _piped_progress(total: int) -> tuple[Any, Any]:
    """(on_run, on_stage) printing one flushed stderr line per finished run (output piped)."""
    import sys

    done = [0]

    def finished(o: Any) -> None:
        done[0] += 1
        cpu = o.metrics.get("train_cpu_s")
        print(f"[{done[0]}/{total}] {o.name}: {o.epochs} epochs, accuracy {o.accuracy:.3f}, "
              f"{o.seconds:.2f} s wall" + (f", {cpu:.2f} s CPU" if cpu is not None else ""),
              file=sys.stderr, flush=True)  # fmt: skip

    def stage(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    return finished, stage


def demo(
    db: DbOption = None,
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the dashboard at the end.")
    ] = True,
    host: Annotated[str, typer.Option(help="Dashboard address (loopback).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Dashboard port.", min=1, max=65535)] = 8050,
    quick: Annotated[
        bool, typer.Option(help="One width, two budgets, a few epochs: a small experiment (tests).")
    ] = False,
    repeats: Annotated[
        int | None,
        typer.Option(help="Runs per cell (each its own seed); default 5, --quick 3.", min=2),
    ] = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Record a real transfer-learning experiment on the CPU, price it, fit, forecast, serve.

    Every cell (width x labels x strategy) is repeated; each saving against scratch is measured
    on the training thread's CPU time, with a 95% interval and a verdict: saves, costs more or
    within noise (the interval holds 0). ``--format json`` prints the cells and tables as JSON.
    """
    from costlens.cli.common import open_cli_store
    from costlens.experiment import ExperimentConfig
    from costlens.paths import home_dir

    if fmt is OutputFormat.csv:
        from costlens.errors import UsageError

        raise UsageError("costlens demo prints a table or JSON: use --format table or json.")
    if serve:
        from dashboard.app import is_loopback

        if not is_loopback(host):
            from costlens.errors import UsageError

            raise UsageError(
                "the demo serves on loopback only; use `costlens dashboard --host ... --auth` "
                "to share a dashboard."
            )
        check_port_free(host, port)
    store = open_cli_store(db)  # fails early, with one message, on a bad --db
    db_url = store.url
    store.dispose()
    cfg = ExperimentConfig.quick() if quick else ExperimentConfig()
    if repeats is not None:
        cfg = replace(cfg, repeats=repeats)
    result = _record(db_url, cfg, store.display_url, home_dir())
    _print_results(result, cfg, fmt)
    if not serve:
        return
    from dashboard.app import create_app
    from dashboard.app import serve as serve_app

    stderr(f"dashboard: http://{host}:{port}/  (Ctrl-C to stop)")
    serve_app(create_app(db_url), host=host, port=port)


def _record(db_url: str, cfg: Any, shown_url: str, out_dir: Any) -> Any:
    """Run the demo with a live bar on a terminal, one line per finished run when piped."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from costlens import demo as demo_mod

    console = Console(stderr=True)
    total = demo_mod.total_runs(cfg)
    stderr(
        f"costlens demo: digits 0-4 -> 5-9 transfer experiment on the CPU, {total} runs "
        f"({cfg.repeats} repeats a cell), recorded into {shown_url}"
    )
    if not console.is_terminal:
        finished, stage = _piped_progress(total)
        return demo_mod.run_demo(db_url, cfg=cfg, out_dir=out_dir, on_run=finished,
                                 on_stage=stage)  # fmt: skip
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("training", total=total)
        result = demo_mod.run_demo(
            db_url,
            cfg=cfg,
            out_dir=out_dir,
            on_run=lambda _o: progress.advance(task),
            on_start=lambda name: progress.update(task, description=f"training: {name}"),
            on_stage=lambda msg: progress.update(task, description=msg),
        )
        progress.update(task, description="done")
    return result


BASIS_NOTE = (
    "Timing basis: the training thread's CPU time (torch on one thread; other processes on "
    "the machine slow the wall clock, not this figure). Each cell is repeated, each repeat "
    "with its own seed; 'saving' is 100 (1 - transfer/scratch) on the geometric means of the "
    "repeats, with its 95% interval (Welch t on the log ratio); 'within noise' when the "
    "interval holds 0. Costs are the CPU instance's rate times that CPU time. Pretraining on "
    "digits 0-4 (paid once, shared by every fine-tune) is left out of the saving:"
)


def _saving(r: dict[str, Any]) -> str:
    if r["saving_pct"] is None:
        return ""
    if r["saving_pct_low"] is None:
        return f"{r['saving_pct']:+.0f}%"
    return f"{r['saving_pct']:+.0f}% [{r['saving_pct_low']:+.0f}, {r['saving_pct_high']:+.0f}]"


NARROW_COLUMNS = 110  # below this terminal width the table leaves out epochs and cost


def _seconds(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}" if v < 100 else f"{v:,.0f}"


def _comparison_table(result: Any, cfg: Any, width: int = 240) -> Any:
    """The measured per-cell comparison (``result.comparison``) as a rich Table; a terminal
    narrower than NARROW_COLUMNS gets no epochs and cost columns, so that every row is one
    line (both stay in ``--format json``)."""
    from rich import box
    from rich.table import Table

    narrow = width < NARROW_COLUMNS
    table = Table(
        title="Measured on this machine: target task digits 5-9, target accuracy "
        f"{cfg.target_accuracy:.0%}, medians of {cfg.repeats} repeats",
        **({"box": box.SIMPLE_HEAD, "pad_edge": False, "collapse_padding": True} if narrow else {}),
    )
    cols = [("width", lambda r: str(r["width"])), ("labels", lambda r: str(r["labels"])),
            ("strategy", lambda r: r["strategy"]),
            ("reached", lambda r: f"{r['reached_target']}/{r['repeats']}"),
            ("epochs", lambda r: f"{r['epochs']:.0f}"),
            ("CPU s", lambda r: _seconds(r["cpu_s"])),
            ("cost (CPU)", lambda r: _usd(r["cost_usd"])),
            ("saving [95%]", _saving), ("verdict", lambda r: r["verdict"] or "")]  # fmt: skip
    if narrow:
        cols = [("w" if n == "width" else n, get) for n, get in cols
                if n not in ("epochs", "cost (CPU)")]  # fmt: skip
    for name, _ in cols:
        table.add_column(name, justify="left" if name in ("strategy", "verdict") else "right",
                         no_wrap=True)  # fmt: skip
    for r in result.comparison:
        table.add_row(*(get(r) for _, get in cols))
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
            str(r["width"]), str(r["labels"]), _usd(r["pretrain_cost_usd"]),
            _usd(saved) if saved is not None and saved > 0 else "no saving",
            f"{r['break_even_jobs']:.1f} jobs" if r["break_even_jobs"] else "never",
        )  # fmt: skip
    return pay


def _summary(result: Any) -> str:
    counts = {v: sum(1 for c in result.cells if c["verdict"] == v) for v in VERDICTS}
    return f"{len(result.cells)} transfer cells: " + ", ".join(
        f"{n} {v}" for v, n in counts.items()
    )


def _print_results(result: Any, cfg: Any, fmt: OutputFormat) -> None:
    """The demo's measured tables (or, with --format json, the same as JSON) on stdout, its
    notes on stderr."""
    tot = result.forecast_total
    if fmt is OutputFormat.json:
        print(dumps_json({
            "basis": "training-thread CPU time", "confidence": 0.95, "repeats": cfg.repeats,
            "cells": result.cells, "comparison": result.comparison, "payback": result.payback,
            "model_path": str(result.model_path), "model_runs": result.model_runs,
            "forecast": {**tot, "paths": [str(p) for p in result.forecast_paths]},
        }))  # fmt: skip
    else:
        out = stdout_console()
        out.print(_comparison_table(result, cfg, out.width))
        stderr(BASIS_NOTE)
        stdout_console().print(_payback_table(result))
    stderr(_summary(result))
    stderr(f"estimator fitted on {result.model_runs} recorded runs -> {result.model_path}")
    stderr(
        f"example plan forecast: ${tot['total_cost_usd']:,.0f} "
        f"(80% interval ${tot['total_cost_usd_low']:,.0f} - ${tot['total_cost_usd_high']:,.0f}) "
        f"-> {', '.join(str(p) for p in result.forecast_paths)}"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
