"""Reading reference tables: CSV rows with line numbers, and cells checked one by one.

Every table in ``data/`` (and every user table of the same layout) is read here, so a malformed
one is refused the same way everywhere: a :class:`~costlens.core.errors.DataTableError` that names
the file, the line (1 = header) and the column.
"""

from __future__ import annotations

import csv
from pathlib import Path

from costlens.core import validate
from costlens.core.errors import DataTableError, InputError
from costlens.core.validate import calendar_date, has_control, oversize

Row = dict[str, str]
FORMULA_STARTS = "=+-@"  # OWASP CSV injection: what a spreadsheet reads as a formula


def file_stamp(path: Path) -> int:
    """The file's modification time in ns (-1 if it is missing): a table's cache key."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def read_rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, Row]]:
    """Rows of a CSV file as (line number, {column: text}); checks the header whole. A file
    over :data:`~costlens.core.validate.MAX_INPUT_FILE_BYTES` is refused before it is read."""
    too_big = oversize(path)
    if too_big:
        raise DataTableError(too_big, path=str(path))
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise DataTableError(
                    "the file is empty (no header line)", path=str(path), line=1
                ) from None
            _check_header(header, required, path)
            rows: list[tuple[int, Row]] = []
            for values in reader:
                line = reader.line_num
                if not values or all(not v.strip() for v in values):
                    continue
                if len(values) > len(header):
                    raise DataTableError(
                        f"{len(values)} fields but the header has {len(header)}",
                        path=str(path),
                        line=line,
                    )
                values = values + [""] * (len(header) - len(values))
                rows.append((line, {h: v.strip() for h, v in zip(header, values, strict=True)}))
            return rows
    except FileNotFoundError as exc:
        raise DataTableError("file not found", path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise DataTableError("not a UTF-8 text file", path=str(path)) from exc
    except csv.Error as exc:
        raise DataTableError(f"not a valid CSV file: {exc}", path=str(path)) from exc


def _check_header(header: list[str], required: tuple[str, ...], path: Path) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise DataTableError(
            f"missing column(s) {', '.join(missing)}; the header must have {', '.join(required)}",
            path=str(path),
            line=1,
            column=missing[0],
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataTableError(
            f"column {dupes[0]!r} appears twice in the header",
            path=str(path),
            line=1,
            column=dupes[0],
        )


def cell_number(
    row: Row,
    col: str,
    path: Path,
    line: int,
    *,
    required: bool = True,
    integer: bool = False,
    positive: bool = False,
) -> float | None:
    """A finite, non-negative number (positive if asked, whole if ``integer``) or None."""
    raw = row.get(col, "")
    where = {"path": str(path), "line": line, "column": col}
    if raw == "":
        if required:
            raise DataTableError("a value is required", **where)
        return None
    try:  # the one number parser and its bounds (a gpu_count of 1e30 is refused)
        return validate.number(raw, col, minimum=0.0, above=positive, integer=integer)
    except InputError as exc:
        raise DataTableError(str(exc), **where) from None


def cell_text(row: Row, col: str, path: Path, line: int, *, key: bool = False) -> str:
    """A non-empty text cell without control characters; a ``key`` (provider, instance type,
    region) also must not start like a spreadsheet formula (``=cmd`` is not a provider)."""
    value = row.get(col, "")
    if not value:
        raise DataTableError("a value is required", path=str(path), line=line, column=col)
    if has_control(value):
        raise DataTableError(
            f"{value!r} contains control characters", path=str(path), line=line, column=col
        )
    if key and value[0] in FORMULA_STARTS:
        raise DataTableError(
            f"{value!r} starts like a spreadsheet formula ({value[0]!r}); a name starts with a "
            "letter or digit",
            path=str(path),
            line=line,
            column=col,
        )
    return value


def check_date(value: str) -> str:
    """``value`` if it is a real calendar date ``YYYY-MM-DD`` (or a month ``YYYY-MM``);
    ValueError naming the problem otherwise (``2026-02-30`` is refused)."""
    return calendar_date(value, "date")


def cell_date(row: Row, col: str, path: Path, line: int) -> str:
    """A dated cell: ``YYYY-MM-DD`` (or ``YYYY-MM``), a real calendar date."""
    value = cell_text(row, col, path, line)
    try:
        return check_date(value)
    except InputError as exc:
        raise DataTableError(str(exc), path=str(path), line=line, column=col) from None
