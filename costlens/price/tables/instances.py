"""Price tables: validated rows (``data/gpu_prices.csv``, ``data/cpu_prices.csv`` and a user's
file) and the cheapest-instance rule.

A user price file (``~/.costlens/prices.csv`` or ``--prices FILE``) needs only the columns of
:data:`USER_REQUIRED_COLUMNS` (provider, instance_type, gpu, gpu_count, price_usd_hour); the rest
of ``data/gpu_prices.csv``'s columns are optional, with the defaults of :func:`user_defaults`
(region ``any``, no vCPUs, memory or spot price, source: the file's path, as_of: the file's
modification date). A user row replaces the shipped row with the same (provider, instance_type,
region). Every bad line of a table is reported at once, in one error.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from costlens.core.errors import DataTableError, PriceNotFoundError, UnknownAcceleratorError
from costlens.core.vocab import CPU_KEY
from costlens.price.tables.accelerators import Accelerators
from costlens.price.tables.quote import PriceQuote, quote_from_row
from costlens.price.tables.rows import cell_date, cell_number, cell_text, read_rows

GPU_PRICES_FILE = "gpu_prices.csv"
CPU_PRICES_FILE = "cpu_prices.csv"
USER_PRICES_FILE = "prices.csv"

# Columns every price table (shipped or user) must have; `note` is optional.
PRICE_COLUMNS: tuple[str, ...] = (
    "provider",
    "instance_type",
    "region",
    "gpu",
    "gpu_count",
    "vcpus",
    "memory_gb",
    "price_usd_hour",
    "spot_price_usd_hour",
    "source",
    "as_of",
)
PRICE_KEY: tuple[str, ...] = ("provider", "instance_type", "region")
USER_REQUIRED_COLUMNS: tuple[str, ...] = (
    "provider", "instance_type", "gpu", "gpu_count", "price_usd_hour",
)  # fmt: skip
USER_DEFAULT_REGION = "any"
MAX_LISTED_PROBLEMS = 8  # problems spelled out in the one error; the rest are counted


class PriceWarning(UserWarning):
    """A suspicious but accepted price row (e.g. spot above on-demand)."""


def _gpu_cell(row: dict[str, str], path: Path, line: int, accelerators: Accelerators) -> str:
    name = cell_text(row, "gpu", path, line)
    try:
        return accelerators.resolve(name)
    except UnknownAcceleratorError as exc:
        hint = f" (closest: {', '.join(exc.suggestions)})" if exc.suggestions else ""
        raise DataTableError(
            f"unknown accelerator {name!r}{hint}; use a key from `costlens gpus`",
            path=str(path),
            line=line,
            column="gpu",
        ) from None


def _price_row(row: dict[str, str], path: Path, line: int, acc: Accelerators) -> dict[str, Any]:
    rec: dict[str, Any] = {c: cell_text(row, c, path, line, key=True) for c in PRICE_KEY}
    rec["source"] = cell_text(row, "source", path, line)
    rec["provider"] = rec["provider"].lower()
    rec["gpu"] = _gpu_cell(row, path, line, acc)
    rec["gpu_count"] = int(cell_number(row, "gpu_count", path, line, integer=True) or 0)
    cpu = rec["gpu"] == CPU_KEY
    if cpu != (rec["gpu_count"] == 0):
        msg = (
            "a CPU-only instance must have gpu_count 0"
            if cpu
            else "an accelerator instance needs gpu_count of at least 1"
        )
        raise DataTableError(msg, path=str(path), line=line, column="gpu_count")
    rec["vcpus"] = cell_number(row, "vcpus", path, line, required=False)
    rec["memory_gb"] = cell_number(row, "memory_gb", path, line, required=False)
    rec["price_usd_hour"] = cell_number(row, "price_usd_hour", path, line)
    spot = cell_number(row, "spot_price_usd_hour", path, line, required=False)
    rec["spot_price_usd_hour"] = math.nan if spot is None else spot
    rec["as_of"] = cell_date(row, "as_of", path, line)
    rec["note"] = row.get("note", "")
    return rec


def user_defaults(path: Path) -> dict[str, str]:
    """What a user price file's optional columns default to: region ``any``, the file's path as
    ``source`` and its modification date (UTC) as ``as_of``; no vCPUs, memory, spot or note."""
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.timezone.utc)
    return {
        "region": USER_DEFAULT_REGION,
        "source": str(path),
        "as_of": stamp.date().isoformat(),
    }


def _checked_row(
    row: dict[str, str], path: Path, line: int, acc: Accelerators, seen: dict, out: list
) -> None:
    """Validate one row and append it to ``out`` (DataTableError when it is bad)."""
    rec = _price_row(row, path, line, acc)
    key = tuple(rec[c] for c in PRICE_KEY)
    if key in seen:
        raise DataTableError(
            f"duplicate row for {'/'.join(key)} (first on line {seen[key]})",
            path=str(path),
            line=line,
            column="instance_type",
        )
    seen[key] = line
    spot = rec["spot_price_usd_hour"]
    if not math.isnan(spot) and spot > rec["price_usd_hour"]:
        warnings.warn(
            f"{path}:{line}: spot price {spot} is above the on-demand price "
            f"{rec['price_usd_hour']} for {'/'.join(key)}",
            PriceWarning,
            stacklevel=4,
        )
    rec["file"] = str(path)
    out.append(rec)


def validate_price_rows(
    path: Path, accelerators: Accelerators, *, user: bool = False
) -> list[dict[str, Any]]:
    """One price table, validated whole; returns clean rows (gpu resolved to its key).

    ``user``: a user's file, which needs only :data:`USER_REQUIRED_COLUMNS` (blank or missing
    optional cells take :func:`user_defaults`). Every bad line is collected: one DataTableError
    locates the first (line, column) and lists the others (all in its ``problems``).
    """
    required = USER_REQUIRED_COLUMNS if user else PRICE_COLUMNS
    defaults = user_defaults(path) if user and path.is_file() else {}
    out: list[dict[str, Any]] = []
    seen: dict[tuple[str, ...], int] = {}
    problems: list[DataTableError] = []
    for line, row in read_rows(path, required):
        if defaults:
            row = {**row, **{k: v for k, v in defaults.items() if not row.get(k)}}
        try:
            _checked_row(row, path, line, accelerators, seen, out)
        except DataTableError as exc:
            problems.append(exc)
    if problems:
        raise _all_problems(problems, path)
    return out


def _all_problems(problems: list[DataTableError], path: Path) -> DataTableError:
    """One error for every bad line: the first located, the others listed after it."""
    first = problems[0]
    message = str(first).split(": ", 1)[-1] if first.path else str(first)
    if len(problems) > 1:
        rest = problems[1:MAX_LISTED_PROBLEMS]
        listed = "; ".join(
            f"line {p.line} column {p.column!r}: {str(p).split(': ', 1)[-1]}" for p in rest
        )
        more = len(problems) - 1 - len(rest)
        tail = f"; and {more} more" if more > 0 else ""
        message = f"{message} ({len(problems)} bad lines; also {listed}{tail})"
    err = DataTableError(message, path=str(path), line=first.line, column=first.column)
    err.problems = [(p.line, p.column, str(p)) for p in problems]  # type: ignore[attr-defined]
    return err


def merge_user_rows(
    shipped: Iterable[dict[str, Any]], user: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Shipped rows with the user's rows replacing those of the same provider/instance/region."""
    user = list(user)
    keys = {tuple(r[c] for c in PRICE_KEY) for r in user}
    return [r for r in shipped if tuple(r[c] for c in PRICE_KEY) not in keys] + user


def _rate(row: dict[str, Any], spot: bool) -> tuple[float, float]:
    """(dollars per instance-hour, per GPU-hour) of a row, on-demand or spot."""
    usd = float(row["spot_price_usd_hour"] if spot else row["price_usd_hour"])
    count = int(row["gpu_count"])
    return usd, usd / count if count > 0 else usd


def cheapest_row(
    rows: list[dict[str, Any]],
    key: str,
    gpu_count: int = 1,
    *,
    provider: str | None = None,
    spot: bool = False,
    instance_type: str | None = None,
    min_vcpus: int | None = None,
    region: str | None = None,
) -> PriceQuote:
    """The cheapest instance (per GPU-hour; per instance-hour for CPU) among ``rows`` of ``key``.

    Prefers instances with exactly ``gpu_count`` accelerators, then the smallest larger one,
    then (for jobs bigger than any instance) the cheapest per GPU-hour. ``instance_type`` pins the
    instance (cheapest region); ``region`` keeps that region's rows when it has any. For CPU,
    ``min_vcpus`` keeps instances with at least that many vCPUs (else the largest). Raises
    :class:`PriceNotFoundError` when nothing matches.
    """
    m = [r for r in rows if r["gpu"] == key]
    what = key
    if provider:
        m = [r for r in m if r["provider"] == provider.lower()]
        what += f" on {provider}"
    if instance_type:
        m = [r for r in m if r["instance_type"] == instance_type]
        what += f" instance {instance_type}"
    if spot:
        m = [r for r in m if not math.isnan(r["spot_price_usd_hour"])]
        what += " (spot)"
    if not m:
        raise PriceNotFoundError(
            f"no price for {what}; `costlens prices --gpu {key}` lists what is known, and a "
            "user price file (~/.costlens/prices.csv or --prices FILE) can add rows."
        )
    if region and any(r["region"] == region for r in m):
        m = [r for r in m if r["region"] == region]
    if not instance_type and key != CPU_KEY:
        n = max(int(gpu_count or 1), 1)
        exact = [r for r in m if r["gpu_count"] == n]
        larger = [r for r in m if r["gpu_count"] > n]
        if exact:
            m = exact
        elif larger:
            smallest = min(r["gpu_count"] for r in larger)
            m = [r for r in larger if r["gpu_count"] == smallest]
    if not instance_type and key == CPU_KEY and min_vcpus:
        big = [r for r in m if (r["vcpus"] or 0) >= min_vcpus]
        most = max((r["vcpus"] for r in m if r["vcpus"] is not None), default=None)
        m = big or [r for r in m if r["vcpus"] == most] or m
    best = min(
        m,
        key=lambda r: (
            _rate(r, spot)[1], _rate(r, spot)[0], r["provider"], r["instance_type"], r["region"]
        ),
    )  # fmt: skip
    return quote_from_row(best, spot)
