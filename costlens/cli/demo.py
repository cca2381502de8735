"""CLI: `costlens demo`, the main job: a real scratch-versus-transfer experiment end to end."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import typer

from costlens.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    count_parser,
    dumps_json,
    name_option,
    port_option,
    stderr,
    stdout_console,
)
from costlens.cli.tables import ID, NUM, Col, print_table
from costlens.core.fmt import interval_of, score
from costlens.core.fmt import money as _usd
from costlens.core.vocab import REACH_VERDICTS, VERDICTS

BILLED_BASIS = "billed: wall time on the run's instance (as costlens cost, show and runs)"


def check_port_free(host: str, port: int) -> None:
    """UsageError (exit 2) when ``host:port`` cannot be bound: checked BEFORE the experiment."""
    import socket

    from costlens.core.errors import UsageError

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
    host: name_option("--host", "Dashboard address (loopback).") = "127.0.0.1",
    port: port_option("Dashboard port.") = 8050,
    quick: Annotated[
        bool, typer.Option(help="One width, two budgets, a few epochs: a small experiment (tests).")
    ] = False,
    repeats: Annotated[
        int | None,
        typer.Option(
            help="Runs per cell (each its own seed); default 5, --quick 3.",
            parser=count_parser("--repeats", minimum=2),
        ),
    ] = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Record a real transfer-learning experiment on the CPU, price it, fit, forecast, serve.

    Every cell (width x labels x strategy) is repeated; each saving against scratch is measured
    at equal quality (among the runs that reached the target accuracy) on the training thread's
    CPU time, with a 95% interval and a verdict: saves, costs more, within noise (the interval
    holds 0), or does not reach target. Dollars are each run's bill (wall time).
    ``--format json`` prints the cells and tables as JSON.
    """
    from costlens.apps.experiment import ExperimentConfig
    from costlens.cli.common import open_cli_store
    from costlens.store.url import store_state_dir

    if fmt is OutputFormat.csv:
        from costlens.core.errors import UsageError

        raise UsageError("costlens demo prints a table or JSON: use --format table or json.")
    if serve:
        from dashboard.app import is_loopback

        if not is_loopback(host):
            from costlens.core.errors import UsageError

            raise UsageError(
                "the demo serves on loopback only; use `costlens dashboard --host ... --auth` "
                "to share a dashboard."
            )
        check_port_free(host, port)
    with open_cli_store(db, "write") as store:  # fails early, with one message, on a bad --db
        db_url = store.url
    cfg = ExperimentConfig.quick() if quick else ExperimentConfig()
    if repeats is not None:
        cfg = replace(cfg, repeats=repeats)
    result = _record(db_url, cfg, store.display_url, store_state_dir(db_url))
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

    from costlens.apps import demo as demo_mod

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
    "At equal quality: a cell compares only the runs that reached the target (each stops at "
    "the first evaluation that reaches it, so its cost is its cost to target); 'reached' is "
    "the reach rate beside it, and a strategy whose runs never reached the target 'does not "
    "reach target' (with the best accuracy it reached and what it cost), never 'saves'. "
    "Verdict basis: the training thread's CPU time (torch on one thread; other processes on "
    "the machine slow the wall clock, not this figure): 'saving' is 100 (1 - transfer/scratch) "
    "on the geometric means of the compared repeats, with its 95% interval (Welch t on the log "
    "ratio); 'within noise' when the interval holds 0. Dollars are each run's bill: wall time "
    "on its CPU instance, the figure `costlens cost` gives. Pretraining on digits 0-4 (paid "
    "once, shared by every fine-tune) is left out of the saving:"
)


def _saving(r: dict[str, Any]) -> str:
    if r["saving_pct"] is None:
        return ""
    if r["saving_pct_low"] is None:
        return f"{r['saving_pct']:+.0f}%"
    return f"{r['saving_pct']:+.0f}% [{r['saving_pct_low']:+.0f}, {r['saving_pct_high']:+.0f}]"


COMPARISON_LAYOUT = (
    Col("width", "width", 1, NUM),
    Col("labels", "labels", 1, NUM),
    Col("strategy", "strategy", 0, ID),
    Col("reached", "reached", 0, ID),
    Col("accuracy", "best acc.", 2, NUM),
    Col("cpu_s", "CPU s", 3, NUM),
    Col("cost", "cost", 2, NUM),
    Col("to_target", "cost to target", 1, NUM),
    Col("saving", "saving [95%]", 0, ID),
    Col("verdict", "verdict", 0, ID),
)
PAYBACK_LAYOUT = (
    Col("width", "width", 0, NUM),
    Col("labels", "labels", 0, NUM),
    Col("pretraining", "pretraining cost", 1, ID),
    Col("saves", "fine-tune saves/job", 1, ID),
    Col("break-even", "break-even", 0, ID),
)
_WIDER = "(a wider terminal shows them)"


def _seconds(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}" if v < 100 else f"{v:,.0f}"


def _comparison_rows(result: Any) -> list[dict[str, Any]]:
    """The measured per-cell comparison (``result.comparison``), one row per cell."""
    return [
        {
            "width": r["width"],
            "labels": r["labels"],
            "strategy": r["strategy"],
            "reached": f"{r['reached_target']}/{r['repeats']}",
            "accuracy": "" if r["best_accuracy"] is None else score(r["best_accuracy"]),
            "cpu_s": _seconds(r["cpu_s"]),
            "cost": _usd(r["cost_usd"]),
            "to_target": _usd(r["cost_to_target_usd"]) if r["reached_target"] else "not reached",
            "saving": _saving(r),
            "verdict": r["verdict"] or "",
        }
        for r in result.comparison
    ]


def _payback_rows(result: Any) -> list[dict[str, Any]]:
    """After how many fine-tunes pretraining pays for itself (``result.payback``)."""
    rows = []
    for r in result.payback:
        saved = r["saved_per_job_usd"]
        rows.append(
            {
                "width": r["width"],
                "labels": r["labels"],
                "pretraining": _usd(r["pretrain_cost_usd"]),
                "saves": _usd(saved) if saved is not None and saved > 0 else "no saving",
                "break-even": f"{r['break_even_jobs']:.1f} jobs"
                if r["break_even_jobs"]
                else "never",
            }
        )
    return rows


def _summary(result: Any) -> str:
    said = (*VERDICTS, *REACH_VERDICTS)
    counts = {v: sum(1 for c in result.cells if c["verdict"] == v) for v in said}
    return f"{len(result.cells)} transfer cells: " + ", ".join(
        f"{n} {v}" for v, n in counts.items() if n
    )


def _print_results(result: Any, cfg: Any, fmt: OutputFormat) -> None:
    """The demo's measured tables (or, with --format json, the same as JSON) on stdout, its
    notes on stderr."""
    from costlens.apps.transfer import EQUAL_QUALITY

    tot = result.forecast_total
    if fmt is OutputFormat.json:
        print(dumps_json({
            "basis": "training-thread CPU time", "confidence": 0.95, "repeats": cfg.repeats,
            "target": cfg.target, "method": EQUAL_QUALITY, "cost_basis": BILLED_BASIS,
            "summary": result.summary, "frontier": result.frontier, "cells": result.cells,
            "comparison": result.comparison, "payback": result.payback,
            "model_path": str(result.model_path), "model_runs": result.model_runs,
            "forecast": {**tot, "paths": [str(p) for p in result.forecast_paths]},
        }))  # fmt: skip
    else:
        out = stdout_console()
        title = (
            "Measured on this machine: target task digits 5-9, target accuracy "
            f"{cfg.target_accuracy:.0%}, medians of {cfg.repeats} repeats (cost: the bill)"
        )
        print_table(out, _comparison_rows(result), COMPARISON_LAYOUT, title=title, hint=_WIDER)
        stderr(BASIS_NOTE)
        title = "Pretraining, measured: after how many fine-tunes it pays for itself"
        print_table(out, _payback_rows(result), PAYBACK_LAYOUT, title=title, hint=_WIDER)
    stderr(_summary(result))
    stderr(result.summary)
    stderr(f"estimator fitted on {result.model_runs} recorded runs -> {result.model_path}")
    stderr(
        f"example plan forecast: {interval_of(tot, 'total_cost_usd')} "
        f"-> {', '.join(str(p) for p in result.forecast_paths)}"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
