"""Plan files -> validated jobs: :func:`load_plan` reads CSV, XLSX, TOML and YAML plans.

A plan is validated whole and refused with :class:`~costlens.core.errors.PlanError` naming the file,
line and column (every problem found is listed in the message and in ``PlanError.problems``).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costlens.budget.plan.schema import PLAN_COLUMNS, REQUIRED_COLUMNS, PlannedJob
from costlens.budget.plan.validate import Validator, norm_column
from costlens.core.errors import PlanError
from costlens.core.validate import oversize

if TYPE_CHECKING:  # pragma: no cover
    from costlens.price.tables import PriceTable


def _read_rows(rows: Iterable[tuple[int, list[Any]]], path: Path, v: Validator) -> list[PlannedJob]:
    """Jobs from (line, cells) rows of a table whose first non-empty row is the header."""
    jobs: list[PlannedJob] = []
    header: list[str] | None = None
    for line, row in rows:
        texts = ["" if c is None else str(c) for c in row]
        if not texts or all(not t.strip() for t in texts) or texts[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [norm_column(c) for c in texts]
            if not v.header(header, line):
                v.raise_if_any()
            continue
        if len(row) != len(header):
            v.add(line, None, f"{len(row)} fields where the header has {len(header)}")
            continue
        job = v.row(dict(zip(header, row, strict=True)), line)
        if job is not None:
            jobs.append(job)
    if header is None:
        raise PlanError(
            f"the plan is empty; it needs a header row with {', '.join(REQUIRED_COLUMNS)}",
            path=str(path),
        )
    return jobs


def _read_csv(path: Path, v: Validator) -> list[PlannedJob]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise PlanError(f"cannot read the plan: {exc.strerror}", path=str(path)) from exc
    with handle:
        reader = csv.reader(handle)
        try:
            return _read_rows(((reader.line_num, row) for row in reader), path, v)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise PlanError(f"not a readable CSV file: {exc}", path=str(path)) from exc


def _read_xlsx(path: Path, v: Validator) -> list[PlannedJob]:
    """The first sheet of a workbook, laid out like a CSV plan (line = spreadsheet row)."""
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (OSError, KeyError, zipfile.BadZipFile, InvalidFileException) as exc:
        raise PlanError(f"not a readable XLSX file: {exc}", path=str(path)) from exc
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        width = None
        out = []
        for line, row in enumerate(rows, start=1):
            cells = list(row)
            if width is None and any(c is not None for c in cells):
                width = max(i + 1 for i, c in enumerate(cells) if c is not None)
            if width is not None and all(c is None for c in cells[width:]):
                cells = cells[:width]  # blank cells right of the header are not fields
            out.append((line, cells))
        return _read_rows(out, path, v)
    finally:
        wb.close()


def _read_records(records: Any, lines: list[int | None], path: Path, v: Validator) -> list:
    """Jobs from a list of column -> value tables (TOML and YAML plans)."""
    if not isinstance(records, list):
        raise PlanError("expected a list of jobs (`jobs:` / [[job]])", path=str(path))
    jobs: list[PlannedJob] = []
    for i, rec in enumerate(records):
        line = lines[i] if i < len(lines) else None
        if not isinstance(rec, Mapping):
            v.add(line, None, "a job must be a table of column = value")
            continue
        row = {norm_column(k): val for k, val in rec.items()}
        unknown = [c for c in row if c not in PLAN_COLUMNS]
        for col in unknown:
            v.add(line, col, f"unknown column; plan columns are {', '.join(PLAN_COLUMNS)}")
        job = v.row(row, line)
        if job is not None and not unknown:
            jobs.append(job)
    return jobs


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(f"not a UTF-8 text file ({exc.reason} at byte {exc.start})",
                        path=str(path)) from None  # fmt: skip
    except OSError as exc:
        raise PlanError(f"cannot read the plan: {exc.strerror}", path=str(path)) from exc


def _read_toml(path: Path, v: Validator) -> list[PlannedJob]:
    try:
        import tomllib
    except ImportError as exc:  # Python 3.10
        raise PlanError("TOML plans need Python 3.11; use a CSV plan", path=str(path)) from exc
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"not valid TOML: {exc}", path=str(path)) from exc
    key = "job" if "job" in data else "jobs"
    lines = [i + 1 for i, raw in enumerate(text.splitlines()) if raw.strip() == f"[[{key}]]"]
    return _read_records(data.get(key, []), lines, path, v)


def _read_yaml(path: Path, v: Validator) -> list[PlannedJob]:
    import yaml

    text = _read_text(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(f"not valid YAML: {exc}", path=str(path)) from exc
    if isinstance(data, Mapping):
        data = data.get("jobs", data.get("job"))
        if node is not None and hasattr(node, "value"):
            node = next((val for k, val in node.value if k.value in ("jobs", "job")), None)
    lines = [item.start_mark.line + 1 for item in getattr(node, "value", [])]
    return _read_records(data, lines, path, v)


_READERS = {".toml": _read_toml, ".yaml": _read_yaml, ".yml": _read_yaml, ".xlsx": _read_xlsx}


def load_plan(path: str | Path, *, prices: PriceTable) -> list[PlannedJob]:
    """Read and validate a plan file (``.csv``, ``.xlsx``, ``.toml``, ``.yaml``/``.yml``; any
    other suffix is read as CSV).

    Raises :class:`PlanError` (file, line, column) when anything is wrong; nothing is returned
    for a partly valid plan. ``prices`` checks that every job can be priced.
    """
    path = Path(path)
    if not path.is_file():
        raise PlanError("no such plan file", path=str(path))
    too_big = oversize(path)
    if too_big:
        raise PlanError(too_big, path=str(path))
    v = Validator(str(path), prices)
    jobs = _READERS.get(path.suffix.lower(), _read_csv)(path, v)
    v.raise_if_any()
    if not jobs:
        raise PlanError("the plan has no jobs", path=str(path))
    return jobs


def plan_fingerprint(path: str | Path) -> str:
    """sha256 (first 16 hex digits) of the plan file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
