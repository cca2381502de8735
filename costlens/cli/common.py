"""Shared CLI pieces: option types, output formats, the store opener."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from typing import Annotated, Any

import typer

from costlens.errors import UsageError
from costlens.numbers import NumberError, parse_quantity


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Store URL (sqlite:///PATH or postgresql://USER@HOST/DB). Default: $COSTLENS_DB, "
        "else ~/.costlens/costlens.db.",
        show_default=False,
    ),
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
]
PricesFileOption = Annotated[
    str | None,
    typer.Option(
        "--prices",
        help="A price file (same columns as data/gpu_prices.csv) overriding the shipped rows. "
        "Default: ~/.costlens/prices.csv when it exists.",
        show_default=False,
    ),
]


def quantity_parser(what: str, *, minimum: float = 0.0, integer: bool = False):
    """A typer ``parser`` for a number written as people do (``50``, ``1k``, ``2,000``), at
    least ``minimum``, whole if ``integer``: :func:`costlens.numbers.parse_quantity`, the one
    number parser. A bad value is a usage error (exit 2) naming ``what``."""

    def parse(value: str | float) -> float | int:
        try:
            out = parse_quantity(value, what, minimum=minimum, integer=integer)
        except NumberError as exc:
            raise typer.BadParameter(str(exc)) from None
        return int(out) if integer else float(out)  # type: ignore[arg-type]

    parse.__name__ = what
    return parse


def count_parser(what: str, *, minimum: int = 1):
    """:func:`quantity_parser` for a whole number of at least ``minimum`` (``--limit``)."""
    return quantity_parser(what, minimum=minimum, integer=True)


def open_cli_store(db: str | None, *, create: bool = True):
    """Open the store for a CLI command.

    ``create=False`` (commands that only read): a current costlens store must be there; nothing
    is created, migrated or written (closed journals are left for `costlens sync`, with a note on
    stderr). ``create=True`` (commands that record runs): the store is created or upgraded, and
    the offline journal is replayed into it first.
    """
    from costlens.journal import pending_note, replay_pending
    from costlens.store.db import open_store

    if not create:
        store = open_store(db, read_only=True)
        note = pending_note()
        if note:
            stderr(note)
        return store
    store = open_store(db)
    replay_pending(store)
    return store


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=_json_default, allow_nan=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        if abs(value) >= 1e6 or (0 < abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def emit(
    rows: Sequence[Mapping[str, Any]],
    fmt: OutputFormat,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    empty_hint: str | None = None,
) -> None:
    """Print records as a rich table, a JSON list, or CSV (all keys) on stdout."""
    if fmt is OutputFormat.json:
        sys.stdout.write(dumps_json(list(rows)) + "\n")
        return
    if fmt is OutputFormat.csv:
        keys = list(rows[0].keys()) if rows else list(columns or [])
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_cell(row.get(k)) for k in keys})
        sys.stdout.write(buf.getvalue())
        return
    from rich.table import Table

    console = stdout_console()
    if not rows:
        console.print(empty_hint or "nothing to show.")
        return
    cols = list(columns or rows[0].keys())
    table = Table(title=title, show_lines=False)
    for col in cols:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in cols))
    console.print(table)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return value


def emit_record(record: Mapping[str, Any], fmt: OutputFormat, *, title: str | None = None) -> None:
    """Print one record: JSON object, one-row CSV, or a key/value table."""
    if fmt is OutputFormat.json:
        sys.stdout.write(dumps_json(dict(record)) + "\n")
        return
    if fmt is OutputFormat.csv:
        emit([record], fmt)
        return
    emit(
        [{"field": k, "value": _cell(v)} for k, v in record.items()],
        OutputFormat.table,
        title=title,
    )


def require_positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise UsageError(f"{name} must be positive (got {value}).")


def stdout_console():
    """A rich console for tables on stdout. Piped or redirected output is not wrapped at rich's
    80-column default (a file or a pager is as wide as the table)."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=240)


def stderr(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(message)


def iter_nonempty(values: Iterable[str] | None) -> list[str]:
    return [v for v in (values or []) if v]
