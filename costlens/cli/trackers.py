"""CLI: `costlens export mlflow RUN_ID` and `costlens export wandb RUN_ID` (past runs)."""

from __future__ import annotations

from typing import Annotated

import typer

from costlens.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    PricesFileOption,
    RunIdArgument,
    checked,
    name_option,
)
from costlens.core import validate

export_app = typer.Typer(
    help="Send a recorded run's cost figures to an experiment tracker (MLflow, W&B).",
    no_args_is_help=True,
)

RunIdArg = RunIdArgument


def _send(export, run_id: str, db, prices_file, fmt: OutputFormat, **options) -> None:
    """Open the store, price the run, send it with ``export(...)``, say where it went."""
    from costlens.cli.common import emit_record, open_cli_store
    from costlens.price.tables import PriceTable

    with open_cli_store(db) as store:
        done = export(store, run_id, prices=PriceTable.load(prices_file), **options)
    if fmt is OutputFormat.table:
        typer.echo(
            f"sent {len(done.metrics)} figures of the run to {done.tracker} run "
            f"{done.tracker_run_id}"
        )
        return
    emit_record(
        {"tracker": done.tracker, "tracker_run_id": done.tracker_run_id, **done.metrics}, fmt
    )


@export_app.command("mlflow")
def export_mlflow(
    run_id: RunIdArg,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri",
            help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else ./mlruns).",
            parser=checked("--tracking-uri", validate.url),
        ),
    ] = None,
    experiment: name_option(
        "--experiment", "MLflow experiment for a new run (default: the run's project)."
    ) = None,
    mlflow_run_id: name_option(
        "--mlflow-run-id", "Log into this existing MLflow run instead."
    ) = None,
    prices_file: PricesFileOption = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Log a recorded run's cost, GPU-hours, FLOPs, MFU, energy and idle waste into MLflow."""
    from costlens.apps.tracking.backfill import to_mlflow

    _send(
        to_mlflow, run_id, db, prices_file, fmt, tracking_uri=tracking_uri,
        experiment=experiment, mlflow_run_id=mlflow_run_id,
    )  # fmt: skip


@export_app.command("wandb")
def export_wandb(
    run_id: RunIdArg,
    project: name_option("--project", "W&B project (default: the run's costlens project).") = None,
    wandb_run_id: name_option(
        "--wandb-run-id", "Log into this existing W&B run (resumed) instead."
    ) = None,
    prices_file: PricesFileOption = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Log a recorded run's figures into W&B (summary and config; WANDB_MODE=offline works)."""
    from costlens.apps.tracking.backfill import to_wandb

    _send(to_wandb, run_id, db, prices_file, fmt, project=project, wandb_run_id=wandb_run_id)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(export_app, name="export")
