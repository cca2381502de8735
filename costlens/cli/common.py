"""Shared CLI pieces: option types, output formats, the store opener."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from costlens.core import validate
from costlens.core.errors import UsageError
from costlens.record.options import DB_HELP

if TYPE_CHECKING:
    from costlens.store.db import OpenMode, Store


def checked(what: str, check: Callable[[Any, str], Any]):
    """A typer ``parser`` that runs ``check(value, what)`` (a :mod:`costlens.core.validate`
    function): a bad value is a usage error (exit 2) naming ``what``."""

    def parse(value: Any) -> Any:
        try:
            return check(value, what)
        except UsageError as exc:  # InputError and the vocabulary's errors included
            raise typer.BadParameter(str(exc)) from None

    parse.__name__ = what
    return parse


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        parser=checked("--db", validate.url),
        help=DB_HELP,
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
        parser=checked("--prices", validate.url),
        help="Your price file (CSV) adding to or overriding the shipped rows. Columns: provider, "
        "instance_type, gpu, gpu_count, price_usd_hour; optional: region (default any), vcpus, "
        "memory_gb, spot_price_usd_hour, source (default: the file's path), as_of (default: the "
        "file's date), note. Default: ~/.costlens/prices.csv when it exists.",
        show_default=False,
    ),
]


def quantity_parser(
    what: str, *, minimum: float = 0.0, maximum: float | None = None, integer: bool = False,
    above: bool = False,
):  # fmt: skip
    """A typer ``parser`` for a number written as people do (``50``, ``1k``, ``2,000``, ``7B``)
    in ``[minimum, maximum]`` (above ``minimum`` if ``above``), whole if ``integer``: the one
    number parser and :func:`costlens.core.validate.number`. A bad value is a usage error (exit
    2)."""

    def check(value: Any, name: str) -> float | int:
        out = validate.number(
            value, name, minimum=minimum, maximum=maximum, above=above, integer=integer
        )
        return int(out) if integer else out

    return checked(what, check)


def count_parser(what: str, *, minimum: int = 1, maximum: float | None = None):
    """:func:`quantity_parser` for a whole number of at least ``minimum`` (``--limit``)."""
    return quantity_parser(what, minimum=minimum, maximum=maximum, integer=True)


def name_option(
    flag: str, help_text: str, *, repeatable: bool = False, check=validate.name, **extra: Any
) -> Any:
    """An optional name option (``--project``, ``--tag``...): not empty, no control characters
    (or ``check``, e.g. a vocabulary's normaliser)."""
    kind = list[str] | None if repeatable else str | None
    return Annotated[kind, typer.Option(flag, help=help_text, parser=checked(flag, check), **extra)]


def _path(value: Any, what: str) -> Path:
    return Path(validate.url(str(value), what))


def path_option(flag: str, help_text: str, *names: str, **extra: Any) -> Any:
    """An optional file path option: not empty, no control characters (whether the file is
    there is the command's business: a missing file is a runtime error, exit 1)."""
    return Annotated[
        Path | None,
        typer.Option(flag, *names, help=help_text, parser=checked(flag, _path), **extra),
    ]


def path_argument(what: str, help_text: str) -> Any:
    """A required file path argument, checked like :func:`path_option`."""
    return Annotated[
        Path, typer.Argument(help=help_text, parser=checked(what, _path), show_default=False)
    ]


def vocab_check(normalise: Callable[[str], str]) -> Callable[[Any, str], str]:
    """A check for ``name_option`` from a :mod:`costlens.core.vocab` normaliser (``LoRA``
    -> lora)."""
    return lambda value, what: normalise(validate.name(value, what))


def _target(value: Any, what: str) -> str:
    validate.target(value, what)
    return str(value).strip()


TargetOption = Annotated[
    str | None,
    typer.Option(
        "--target",
        parser=checked("--target", _target),
        help="A quality target (accuracy>=0.95, loss<=0.3): the cost to reach it, from the "
        "run's metric series, or 'not reached'. Default: $COSTLENS_TARGET.",
        show_default=False,
    ),
]
RunIdArgument = Annotated[
    str,
    typer.Argument(help="Run id (or a unique prefix).", parser=checked("RUN_ID", validate.name)),
]


def port_option(help_text: str) -> Any:
    """``--port``: a whole number from 1 to 65535."""
    return Annotated[
        int,
        typer.Option(
            "--port", help=help_text, parser=count_parser("--port", minimum=1, maximum=65535)
        ),
    ]


def open_cli_store(db: str | None, mode: OpenMode | str = "read") -> Store:
    """Open the store for a CLI command (use it as ``with open_cli_store(db) as store:``).

    ``mode`` is :class:`costlens.store.db.OpenMode`. ``READ`` (the default; commands that only
    read): a current costlens store must be there; nothing is created, migrated or written
    (closed journals are left for `costlens sync`, with a note on stderr). ``WRITE`` (commands
    that record runs): the store is created or upgraded, and the offline journal is replayed
    into it first.
    """
    from costlens.record.journal import replay_pending
    from costlens.record.journal_files import pending_note
    from costlens.store.db import OpenMode, open_store

    mode = OpenMode(mode)
    store = open_store(db, mode)
    if mode is OpenMode.READ:
        note = pending_note()
        if note:
            stderr(note)
    elif mode is OpenMode.WRITE:
        try:
            replay_pending(store)
        except BaseException as exc:
            store.dispose()
            _raise_write_failure(store.url, exc)
            raise
    return store


def _raise_write_failure(url: str, exc: BaseException) -> None:
    """A journal replay the store failed: one clear message (a full disk said as such)."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    from costlens.record.journal_files import journal_dir
    from costlens.store.failures import write_failure

    if isinstance(exc, (SQLAlchemyError, sqlite3.Error, OSError)):
        raise write_failure(url, exc, f"the journal stays in {journal_dir()}") from exc


def dumps_json(data: Any) -> str:
    """``data`` as indented strict JSON, cleaned by :func:`costlens.core.units.json_ready`."""
    from costlens.core.units import json_ready

    return json.dumps(json_ready(data), indent=2, allow_nan=False)


def emit(
    rows: Sequence[Mapping[str, Any]],
    fmt: OutputFormat,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
    empty_hint: str | None = None,
    layout: Sequence[Any] | None = None,
    pick: str | None = None,
    wide: bool = False,
) -> None:
    """Print records as a table that fits the terminal, a JSON list, or CSV (all keys) on
    stdout. The table shows ``layout`` (:class:`costlens.cli.tables.Col`; else ``columns``, else
    every key), ``pick`` (``--columns``) and ``wide`` (``--wide``) as
    :func:`costlens.cli.tables.print_table` says."""
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
    from costlens.cli.tables import plain_cols, print_table

    console = stdout_console()
    if not rows:
        console.print(empty_hint or "nothing to show.")
        return
    cols = list(layout or plain_cols(list(columns or rows[0].keys()), rows))
    print_table(console, rows, cols, title=title, columns=pick, wide=wide)


def _csv_cell(value: Any) -> Any:
    """A CSV cell: lists joined, tables as JSON, text never a spreadsheet formula (run names,
    price files: :func:`costlens.core.fmt.csv_text`); numbers as they are."""
    from costlens.core.fmt import csv_text

    if isinstance(value, (list, tuple)):
        return csv_text(";".join(str(v) for v in value))
    if isinstance(value, dict):
        return csv_text(json.dumps(value, separators=(",", ":")))
    return csv_text(value)


def emit_record(
    record: Mapping[str, Any], fmt: OutputFormat, *, title: str | None = None, wide: bool = False
) -> None:
    """Print one record: JSON object, one-row CSV, or ``field  value`` lines that fit."""
    if fmt is OutputFormat.json:
        sys.stdout.write(dumps_json(dict(record)) + "\n")
        return
    if fmt is OutputFormat.csv:
        emit([record], fmt)
        return
    from costlens.cli.tables import print_record

    print_record(stdout_console(), record, title=title, wide=wide)


def require_positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise UsageError(f"{name} must be positive (got {value}).")


def stdout_console():
    """A rich console for tables on stdout, as wide as the terminal (or ``$COLUMNS``). Piped or
    redirected output is not cut at rich's 80-column default (a file or a pager is 240 wide)."""
    from rich.console import Console

    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").strip().isdigit():
        return Console()
    return Console(width=240)


def stderr(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(message)


def iter_nonempty(values: Iterable[str] | None) -> list[str]:
    return [v for v in (values or []) if v]
