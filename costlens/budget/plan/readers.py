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

MAX_PLAN_JOBS = 100_000  # jobs in one plan: bounded work (a 1.26 M-job plan took 225 s)
MAX_PLAN_DEPTH = 8  # nesting of a TOML/YAML plan (a job is a table in a list: depth 3)


def _too_many(path: Path, limit: int = MAX_PLAN_JOBS) -> PlanError:
    return PlanError(
        f"the plan has more than {limit:,} jobs; split it into several plans", path=str(path)
    )


def _read_rows(rows: Iterable[tuple[int, list[Any]]], path: Path, v: Validator) -> list[PlannedJob]:
    """Jobs from (line, cells) rows of a table whose first non-empty row is the header (at most
    :data:`MAX_PLAN_JOBS`)."""
    jobs: list[PlannedJob] = []
    header: list[str] | None = None
    n_rows = 0
    for line, row in rows:
        n_rows += 1
        if n_rows > v.max_jobs + 1:
            raise _too_many(path, v.max_jobs)
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
    if len(records) > v.max_jobs:
        raise _too_many(path, v.max_jobs)
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
    _check_depth(text, "[{", path)
    try:
        data = tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        raise PlanError(f"not valid TOML: {_parse_problem(exc)}", path=str(path)) from None
    key = "job" if "job" in data else "jobs"
    lines = [i + 1 for i, raw in enumerate(text.splitlines()) if raw.strip() == f"[[{key}]]"]
    return _read_records(data.get(key, []), lines, path, v)


def _parse_problem(exc: BaseException) -> str:
    """A parser's error in the user's terms (Python's integer-digits limit named as such)."""
    if isinstance(exc, ValueError) and "integer string conversion" in str(exc):
        return "a number has thousands of digits; no plan value is that large"
    return str(exc)


def _check_depth(text: str, opening: str, path: Path) -> None:
    """Refuse text nested deeper than :data:`MAX_PLAN_DEPTH` by its flow brackets (``[[[[...``:
    the parsers recurse once per level) before any parser sees it."""
    depth = deepest = 0
    closing = {"[": "]", "{": "}"}
    closers = {closing[c] for c in opening}
    for ch in text:
        if ch in opening:
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_PLAN_DEPTH:
                break
        elif ch in closers:
            depth = max(depth - 1, 0)
    if deepest > MAX_PLAN_DEPTH:
        raise PlanError(
            f"nested more than {MAX_PLAN_DEPTH} levels deep; a plan is a list of jobs, each a "
            "table of column = value",
            path=str(path),
        )


def _yaml_node(text: str, path: Path, max_jobs: int):
    """The YAML document's node tree, refused (before anything is built) when it uses anchors
    or aliases (``&a`` / ``*a``: a 1.5 KB "billion laughs" plan expands to billions of jobs),
    nests deeper than :data:`MAX_PLAN_DEPTH` or holds more than :data:`MAX_PLAN_JOBS` jobs."""
    import yaml

    depth = tables = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise PlanError(
                f"line {line}: YAML anchors and aliases (&name / *name) are not accepted in a "
                "plan; write each job out",
                path=str(path),
            )
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            tables += isinstance(event, yaml.MappingStartEvent)
            if depth > MAX_PLAN_DEPTH:
                raise PlanError(
                    f"line {line}: nested more than {MAX_PLAN_DEPTH} levels deep; a plan is a "
                    "list of jobs, each a table of column = value",
                    path=str(path),
                )
            if tables > max_jobs + 1:
                raise _too_many(path, max_jobs)
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1
    return yaml.compose(text, Loader=yaml.SafeLoader)


def _read_yaml(path: Path, v: Validator) -> list[PlannedJob]:
    import yaml

    text = _read_text(path)
    try:
        node = _yaml_node(text, path, v.max_jobs)
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise PlanError(f"not valid YAML: {_parse_problem(exc)}", path=str(path)) from None
    if isinstance(data, Mapping):
        data = data.get("jobs", data.get("job"))
        if node is not None and hasattr(node, "value"):
            node = next((val for k, val in node.value if k.value in ("jobs", "job")), None)
    lines = [item.start_mark.line + 1 for item in getattr(node, "value", [])]
    return _read_records(data, lines, path, v)


def _not_a_file(path: Path) -> str:
    """Why ``path`` is not a plan: missing, a folder, a device (``/dev/zero``), a FIFO..."""
    import stat

    try:
        mode = path.stat().st_mode
    except OSError:
        return "no such plan file"
    if stat.S_ISDIR(mode):
        return "is a folder, not a plan file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (a pipe), not a plan file; save the plan to a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a plan file"
    return "is not a regular file (a socket?), not a plan file"


_READERS = {".toml": _read_toml, ".yaml": _read_yaml, ".yml": _read_yaml, ".xlsx": _read_xlsx}


def load_plan(
    path: str | Path, *, prices: PriceTable, max_jobs: int = MAX_PLAN_JOBS
) -> list[PlannedJob]:
    """Read and validate a plan file (``.csv``, ``.xlsx``, ``.toml``, ``.yaml``/``.yml``; any
    other suffix is read as CSV).

    Raises :class:`PlanError` (file, line, column) when anything is wrong; nothing is returned
    for a partly valid plan. ``prices`` checks that every job can be priced. The work is bounded
    as well as the bytes: at most ``max_jobs`` jobs (the dashboard asks fewer), no YAML aliases,
    no nesting deeper than :data:`MAX_PLAN_DEPTH`, no number of thousands of digits.
    """
    path = Path(path)
    if not path.is_file():
        raise PlanError(_not_a_file(path), path=str(path))
    too_big = oversize(path)
    if too_big:
        raise PlanError(too_big, path=str(path))
    v = Validator(str(path), prices, max_jobs)
    jobs = _READERS.get(path.suffix.lower(), _read_csv)(path, v)
    v.raise_if_any()
    if not jobs:
        raise PlanError("the plan has no jobs", path=str(path))
    return jobs


def plan_fingerprint(path: str | Path) -> str:
    """sha256 (first 16 hex digits) of the plan file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
