"""CLI: `costlens export focus` (runs as FOCUS 1.2 rows) and `costlens reconcile BILL.csv`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from costlens.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    PricesFileOption,
    checked,
    name_option,
    path_argument,
    path_option,
)
from costlens.core import validate


def _since(value: Any, what: str) -> datetime:
    return datetime.fromisoformat(validate.calendar_date(value, what))


def export_focus(
    out: path_option("--out", "Write the CSV here (default: stdout).", "-o") = None,
    project: name_option("--project", "Only this project's runs.") = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            "--since",
            help="Runs started on or after this date (YYYY-MM-DD, UTC).",
            parser=checked("--since", _since),
            show_default=False,
        ),
    ] = None,
    account: name_option(
        "--billing-account", "BillingAccountId to write (default: costlens)."
    ) = None,
    prices_file: PricesFileOption = None,
    plan: path_option(
        "--plan", "Also write this plan's forecast as planned cost (x_CostKind planned)."
    ) = None,
    db: DbOption = None,
) -> None:
    """Write recorded runs as FOCUS 1.2 cost-and-usage rows (CSV): Usage, "AI and Machine
    Learning", the instance id as ResourceId, GPU-hours as ConsumedQuantity, costlens's own
    figures as x_ columns. Runs without a price are left out and counted on stderr. With
    ``--plan``, the plan's forecast follows as planned cost, one row per job and month."""
    import csv
    import io

    from costlens.cli.common import open_cli_store, stderr
    from costlens.core.atomicio import write_bytes_atomic
    from costlens.price.focus import FOCUS_COLUMNS, csv_cells, focus_rows
    from costlens.price.tables import PriceTable
    from costlens.store.queries import list_runs

    prices = PriceTable.load(prices_file)
    with open_cli_store(db) as store:
        records = list_runs(store, project=project, since=since)
    done = focus_rows(records, prices=prices, account=account or "costlens")
    rows, columns = list(done.rows), FOCUS_COLUMNS
    if plan is not None:
        from costlens.budget.files.focus_plan import PLAN_COLUMNS, planned_rows
        from costlens.budget.forecast import forecast
        from costlens.budget.forecast.result import records as frame_records

        planned = forecast(plan).jobs
        rows += planned_rows(frame_records(planned), account or "costlens")
        columns = PLAN_COLUMNS
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(csv_cells(row) for row in rows)
    if out is None:
        typer.echo(buf.getvalue(), nl=False)
    else:
        write_bytes_atomic(out, buf.getvalue().encode("utf-8"))
        stderr(f"wrote {len(rows)} FOCUS 1.2 rows to {out}")
    for run_id, why in done.skipped:
        stderr(f"left out run {run_id}: {why}")


def reconcile(
    bill: path_argument("BILL", "A FOCUS cost-and-usage export (CSV)."),
    prices_file: PricesFileOption = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Match a FOCUS bill to the recorded runs (ResourceId = the run's instance id, charge
    period overlapping the run): billed, explained by runs, idle and out of scope, per instance
    and per project, and the gap between costlens's priced figure and the billed one."""
    from costlens.cli.common import open_cli_store
    from costlens.cli.focus_output import show
    from costlens.price.bill import read_bill
    from costlens.price.reconcile import reconcile as match
    from costlens.price.tables import PriceTable
    from costlens.store.queries import list_runs

    lines = read_bill(bill)
    prices = PriceTable.load(prices_file)
    with open_cli_store(db) as store:
        runs = list_runs(store)
    show(match(lines, runs, prices=prices), fmt)


def register(app: typer.Typer) -> None:
    """Add `export focus` (to the export group) and `reconcile` to `app`."""
    from costlens.cli.trackers import export_app

    export_app.command("focus")(export_focus)
    app.command("reconcile")(reconcile)
