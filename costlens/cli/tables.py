"""Terminal tables that fit: every row on one line, ids and numbers never folded.

A table is a list of :class:`Col` (key, short header, priority, kind). At the console's width
the columns are chosen by priority (lower first), text cells are cut with an ellipsis, and ids,
numbers and dates are printed whole; the columns left out are named under the table.
``--columns a,b,c`` picks columns (any key of the rows), ``--wide`` shows every column of the
table uncut. JSON and CSV never come through here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

import typer

from costlens.core import fmt
from costlens.core.errors import UsageError

ID, NUM, DATE, TEXT = "id", "num", "date", "text"
USD, COUNT, FLOPS = "usd", "count", "flops"  # numbers with a style of their own (core/fmt)
NUMBERS = (NUM, USD, COUNT, FLOPS)  # right-aligned, printed whole
COUNT_WORDS = {"steps", "samples", "tokens", "params", "labels", "runs", "jobs"}
_NUMBER_TEXT = {USD: fmt.money, COUNT: fmt.count, FLOPS: fmt.flops}
GAP = 2  # characters between two columns (a space of padding and the divider)
TEXT_MIN = 8  # a text column is cut to no fewer characters than this (or its header)


def _columns_text(value: Any) -> str:
    """``--columns``: not empty, no control characters (the names are checked against the
    table's keys when it is drawn)."""
    from costlens.core import validate

    try:
        return validate.name(value, "--columns")
    except UsageError as exc:
        raise typer.BadParameter(str(exc)) from None


ColumnsOption = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Table columns to show, comma-separated (any key of --format json).",
        show_default=False,
        parser=_columns_text,
    ),
]
WideOption = Annotated[
    bool, typer.Option("--wide", help="Show every column, uncut, whatever the terminal width.")
]


@dataclass(frozen=True)
class Col:
    """One table column: ``key`` in the rows, its ``header``, its ``priority`` (0 is kept
    first; ties keep the display order) and its ``kind`` (id, num, date or text)."""

    key: str
    header: str = ""
    priority: int = 5
    kind: str = TEXT

    @property
    def title(self) -> str:
        return self.header or self.key


def kind_of(key: str, kind: str = NUM) -> str:
    """The number kind of a column from its key (units are in names): ``*_usd*``/``usd_per_*``
    money, ``*flops*`` FLOPs, steps/samples/tokens/params counts; else ``kind``."""
    parts = set(key.lower().split("_"))
    if "usd" in parts:
        return USD
    if parts & {"flops", "flop"}:
        return FLOPS
    if parts & COUNT_WORDS:
        return COUNT
    return kind


def number_text(value: float | int, kind: str = NUM) -> str:
    """A number as :mod:`costlens.core.fmt` writes its ``kind``: money ($0.000015, $5,150),
    counts (617k, 1.33M), FLOPs (1.21T, 60E), else a quantity (1,234, 12.3, 0.0012)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _NUMBER_TEXT.get(kind, fmt.number)(value)


def date_text(value: Any) -> str:
    """A timestamp to the minute (``2026-12-01 12:18``); a date as it is."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    if len(text) >= 16 and text[10] in "T ":
        return f"{text[:10]} {text[11:16]}"
    return text


def cell_text(value: Any, kind: str = TEXT) -> str:
    """One cell as text: :data:`~costlens.core.fmt.MISSING` for None/NaN, numbers by
    :func:`number_text` of ``kind``, dates to the minute."""
    if value is None:
        return fmt.MISSING
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number_text(value, kind)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if kind == DATE or isinstance(value, (datetime, date)):
        return date_text(value)
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return " ".join(str(value).split())  # one line: newlines and tabs become spaces


def _cell_kind(col: Col) -> str:
    """A column's number style: its own kind, refined by its key when it is a plain number."""
    return kind_of(col.key) if col.kind == NUM else col.kind


def blank(text: str) -> bool:
    """True for a cell that tells nothing: empty, unknown or zero (``0``, ``$0``)."""
    return text.strip() in ("", fmt.MISSING, "0", "$0")


def _minimum(col: Col, natural: int) -> int:
    if col.kind != TEXT:
        return natural
    return min(natural, max(TEXT_MIN, len(col.title)))


def fit_widths(
    cols: Sequence[Col],
    naturals: Mapping[str, int],
    width: int,
    blanks: frozenset[str] = frozenset(),
) -> tuple[list[Col], dict[str, int]]:
    """The columns that fit in ``width`` (by priority, in display order) and each one's width:
    ids, numbers and dates whole; text columns share what is left, cut no shorter than
    :data:`TEXT_MIN`. Columns are taken by priority until one does not fit (the first is always
    kept), so a narrow column of low priority never shows when a more important one does not;
    the keys in ``blanks`` (columns with nothing to tell in the rows shown) come last of all."""
    order = sorted(range(len(cols)), key=lambda i: (cols[i].key in blanks, cols[i].priority, i))
    kept: list[int] = []
    used = 0
    for i in order:
        need = _minimum(cols[i], naturals[cols[i].key]) + (GAP if kept else 0)
        if kept and used + need > width:
            break
        kept.append(i)
        used += need
    chosen = [cols[i] for i in sorted(kept)]
    widths = {c.key: _minimum(c, naturals[c.key]) for c in chosen}
    spare = width - used
    texts = [c for c in chosen if c.kind == TEXT]
    while spare > 0:  # hand the spare characters out one by one to text columns still cut
        short = [c for c in texts if widths[c.key] < naturals[c.key]]
        if not short:
            break
        for c in short[:spare]:
            widths[c.key] += 1
            spare -= 1
    return chosen, widths


def pick_columns(
    cols: Sequence[Col], rows: Sequence[Mapping[str, Any]], columns: str | None
) -> list[Col]:
    """The columns named by ``--columns`` (known table columns keep their header and kind; any
    other key of the rows is shown as text); UsageError naming the unknown ones."""
    if not columns:
        return list(cols)
    names = [c.strip() for c in columns.split(",") if c.strip()]
    known = {c.key: c for c in cols}
    keys = set(known)
    for r in rows:
        keys.update(r.keys())
    unknown = [n for n in names if n not in keys]
    if unknown or not names:
        raise UsageError(
            f"--columns: unknown column(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(sorted(keys))}."
        )
    return [
        known.get(n) or Col(n, priority=i, kind=_guess_kind(rows, n)) for i, n in enumerate(names)
    ]


def _guess_kind(rows: Sequence[Mapping[str, Any]], key: str) -> str:
    for r in rows:
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return NUM
        if v is not None:
            return TEXT
    return TEXT


def build_table(
    rows: Sequence[Mapping[str, Any]],
    cols: Sequence[Col],
    width: int | None,
    *,
    wide: bool = False,
    exact: bool = False,
) -> tuple[Any, list[Col]]:
    """A rich Table of ``rows`` that fits ``width`` (None or ``wide``: every column, uncut;
    ``exact``: every column given, text cut to fit as far as it can), and the columns left out."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    cells = [{c.key: cell_text(r.get(c.key), _cell_kind(c)) for c in cols} for r in rows]
    naturals = {c.key: max([len(c.title), *(len(x[c.key]) for x in cells)]) for c in cols}
    blanks = frozenset(c.key for c in cols if cells and all(blank(x[c.key]) for x in cells))
    if wide or width is None:
        chosen, widths = list(cols), dict(naturals)
    elif exact:
        chosen = list(cols)
        widths = fit_widths(cols, naturals, 10**6)[1]
        over = sum(widths.values()) + GAP * (len(cols) - 1) - width
        for c in cols:  # cut text columns towards their minimum until it fits
            if over > 0 and c.kind == TEXT:
                cut = min(over, widths[c.key] - _minimum(c, naturals[c.key]))
                widths[c.key] -= cut
                over -= cut
    else:
        chosen, widths = fit_widths(cols, naturals, width, blanks)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for c in chosen:
        table.add_column(
            c.title,
            justify="right" if c.kind in NUMBERS else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=widths[c.key],
        )
    for x in cells:  # Text, not markup: a cell like "[x]" prints as it is
        table.add_row(*(Text(x[c.key]) for c in chosen))
    hidden = [c for c in cols if c not in chosen]
    return table, hidden


def print_table(
    console: Any,
    rows: Sequence[Mapping[str, Any]],
    cols: Sequence[Col],
    *,
    title: str | None = None,
    columns: str | None = None,
    wide: bool = False,
    hint: str = "(--wide shows all, --columns picks)",
) -> None:
    """Print ``rows`` on ``console`` as a table that fits its width (see :func:`build_table`),
    the title above it and the columns left out named below it (then ``hint``)."""
    picked = pick_columns(cols, rows, columns)
    table, hidden = build_table(rows, picked, console.width, wide=wide, exact=bool(columns))
    if title:
        console.print(title, style="bold", markup=False, highlight=False)
    _print_uncut(console, table, wide)
    if hidden:
        console.print(
            f"not shown at this width: {', '.join(c.key for c in hidden)} {hint}.",
            style="dim",
            markup=False,
            highlight=False,
        )


def plain_cols(keys: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[Col]:
    """Columns for rows with no table layout of their own: in order, kind guessed."""
    return [Col(k, priority=i, kind=_guess_kind(rows, k)) for i, k in enumerate(keys)]


def print_record(
    console: Any, record: Mapping[str, Any], *, title: str | None = None, wide: bool = False
) -> None:
    """One record as ``field  value`` lines within the console's width: a long value wraps at
    its spaces under itself (numbers and ids are never split); ``wide``: one line each."""
    from rich.table import Table
    from rich.text import Text

    if title:
        console.print(title, style="bold", markup=False, highlight=False)
    grid = Table.grid(padding=(0, 2, 0, 0))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold", no_wrap=wide)
    for k, v in record.items():
        grid.add_row(Text(str(k)), Text(cell_text(v, kind_of(str(k)))))
    _print_uncut(console, grid, wide)


def _print_uncut(console: Any, table: Any, wide: bool) -> None:
    """Print ``table``; ``wide``: as wide as it needs (the terminal wraps it, rich does not)."""
    if not wide:
        console.print(table)
        return
    saved = console.width
    console.width = max(
        saved, console.measure(table, options=console.options.update_width(10**5)).maximum
    )
    try:
        console.print(table)
    finally:
        console.width = saved
