"""CLI: `costlens runs`, `costlens show`, `costlens db info|upgrade`."""

from __future__ import annotations

from typing import Annotated

import typer

from costlens.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    RunIdArgument,
    TargetOption,
    count_parser,
    emit,
    emit_record,
    name_option,
)
from costlens.cli.tables import DATE, ID, NUM, Col, ColumnsOption, WideOption
from costlens.core.vocab import RUN_STATUSES

# The table at the terminal's width: lower priority numbers stay longest (cli/tables.py).
RUN_LAYOUT = (
    Col("id", "id", 0, ID),
    Col("project", "project", 2),
    Col("name", "name", 2),
    Col("status", "status", 1, ID),
    Col("strategy", "strategy", 3),  # the question costlens answers: scratch or transfer
    Col("started_at", "started (UTC)", 2, DATE),
    Col("duration_s", "time s", 4, NUM),
    Col("steps", "steps", 6, NUM),
    Col("flops", "FLOPs", 6, NUM),
    Col("device", "device", 4),
    Col("device_count", "devs", 5, NUM),
    Col("device_hours", "hours", 4, ID),  # "1.5 GPU-h" or, for a CPU run, "0.25 inst-h"
    Col("cost_usd", "cost $", 1, NUM),
)
TARGET_COL = Col("to_target", "to target", 1, ID)  # with --target: "$0.12 (step 300, 2 min)"

TABLE_LIMIT = 50  # the table's runs without --limit (JSON and CSV give every matching run)
EMPTY_HINT = (
    "No runs recorded yet. Record one with `costlens run -- python train.py`, "
    "`@costlens.profile` or `with costlens.profile(project=...)`; `costlens demo` records a few."
)


def _status(value: str, what: str) -> str:
    from costlens.core.errors import InputError

    key = value.strip().lower()
    if key not in RUN_STATUSES:
        raise InputError(f"unknown status {value!r}; choose one of {', '.join(RUN_STATUSES)}.")
    return key


def _nothing_recorded(db: str | None) -> bool:
    """True when no run was ever recorded there: the default store does not exist yet, or the
    store is an empty file (listing it then creates nothing)."""
    from costlens.core import config
    from costlens.store import schema
    from costlens.store.db import kind_at

    explicit = db or config.DB.get()
    kind = kind_at(db).kind
    return kind == schema.EMPTY or (kind == schema.MISSING and not explicit)


def _short(records: list[dict]) -> list[dict]:
    """Table rows: short ids, device-hours with their unit (GPU-hours or instance-hours)."""
    from costlens.core.fmt import number
    from costlens.core.hours import HOURS_SHORT

    def hours(r: dict) -> str | None:
        h = r.get("device_hours")
        return None if h is None else f"{number(h)} {HOURS_SHORT[r['device_kind']]}"

    return [{**r, "id": r["id"][:12], "device_hours": hours(r)} for r in records]


def _no_match_hint(store, filters: dict[str, str | None]) -> str:
    """What to say when a store that holds runs has none matching the filters."""
    from costlens.store.runs_page import distinct_values

    given = " and ".join(f"--{k} {v}" for k, v in filters.items() if v)
    projects = distinct_values(store, "project")
    known = f" Projects in this store: {', '.join(projects)}." if projects else ""
    return f"No runs match {given}.{known}"


def runs(
    project: name_option("--project", "Only this project.") = None,
    status: name_option(
        "--status", f"Only this status: {', '.join(RUN_STATUSES)}.", check=_status
    ) = None,
    limit: Annotated[
        int | None,
        typer.Option(
            help=f"At most this many runs (the table: {TABLE_LIMIT} unless given; JSON and CSV: "
            "every matching run).",
            parser=count_parser("--limit"),
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.table,
    columns: ColumnsOption = None,
    wide: WideOption = False,
    target_text: TargetOption = None,
) -> None:
    """List recorded runs, newest first."""
    from costlens.cli.common import open_cli_store, stderr
    from costlens.price.reports import run_rows
    from costlens.price.tables import PriceTable
    from costlens.price.target import project_target, with_target

    target = project_target(target_text)
    cut = limit or (TABLE_LIMIT if fmt is OutputFormat.table else None)
    rows, hint = [], EMPTY_HINT
    if not _nothing_recorded(db):
        with open_cli_store(db) as store:
            rows = run_rows(
                store, PriceTable.load(), project=project, status=status,
                limit=cut + 1 if cut else None,  # one more: was the list cut?
            )  # fmt: skip
            rows = with_target(store, rows, target)
            if not rows and (project or status):
                hint = _no_match_hint(store, {"project": project, "status": status})
    if cut and len(rows) > cut:
        rows = rows[:cut]
        stderr(f"costlens: showing the newest {cut} matching runs; more match (--limit N).")
    if fmt is OutputFormat.table:
        layout = (*RUN_LAYOUT, TARGET_COL) if target else RUN_LAYOUT
        emit(_short(rows), fmt, layout=layout, empty_hint=hint, pick=columns, wide=wide)
    else:
        if not rows and hint is not EMPTY_HINT:
            stderr(hint)
        emit(rows, fmt)


def show(
    run_id: RunIdArgument,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.table,
    wide: WideOption = False,
    target_text: TargetOption = None,
) -> None:
    """Show one run in full."""
    from costlens.cli.common import open_cli_store
    from costlens.price.reports import run_detail
    from costlens.price.tables import PriceTable
    from costlens.price.target import project_target, with_target

    target = project_target(target_text)
    with open_cli_store(db) as store:
        record = with_target(store, [run_detail(store, run_id, PriceTable.load())], target)[0]
    if fmt is OutputFormat.table and record.get("device_kind") == "cpu":
        record.pop("gpu_hours", None)  # a CPU run in CPU terms (JSON and CSV keep the key: null)
    emit_record(record, fmt, title="run", wide=wide)


db_app = typer.Typer(
    help="The run store: where it is, its schema version, upgrades.", no_args_is_help=True
)


@db_app.command("info")
def db_info(db: DbOption = None, fmt: FormatOption = OutputFormat.table) -> None:
    """Where the store is, its schema version, and how much it holds."""
    from costlens.store import db as dbmod
    from costlens.store.queries import count_runs, count_samples

    dbmod.require_existing(db)
    with dbmod.open_store(db, dbmod.OpenMode.INSPECT) as store:
        rev = dbmod.current_revision(store.engine)
        head = dbmod.head_revision()
        info = {
            "url": store.display_url,
            "dialect": store.dialect,
            "schema_revision": rev,
            "schema_head": head,
            "up_to_date": rev == head,
            "runs": count_runs(store) if rev else 0,
            "samples": count_samples(store) if rev else 0,
            "file_size_bytes": dbmod.file_size_bytes(store),
        }
    emit_record(info, fmt, title="store")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create the store or upgrade its schema to this costlens's version (keeps every run)."""
    from costlens.cli.common import stderr
    from costlens.store import db as dbmod
    from costlens.store import schema

    with dbmod.open_store(db, dbmod.OpenMode.INSPECT) as store:
        schema.refuse_foreign(store.display_url, schema.kind_of(store))
        before, after = dbmod.upgrade(store.engine)
    if before == after:
        stderr(f"store {store.display_url} is up to date (schema {after}).")
    else:
        stderr(f"store {store.display_url} upgraded: schema {before or 'empty'} -> {after}.")


def register(app: typer.Typer) -> None:
    app.command("runs")(runs)
    app.command("show")(show)
    app.add_typer(db_app, name="db")
