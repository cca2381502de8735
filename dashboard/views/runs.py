"""The runs table: filtered, sorted and paged in the store; only a page's runs are priced."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from costlens.apps.transfer import priced_records
from costlens.core.fmt import duration, money, number
from costlens.core.hours import HOURS_SHORT
from costlens.core.vocab import RUN_STATUSES
from costlens.price import COST_KEYS
from costlens.price.tables import PriceTable
from costlens.store import runs_page as dashboard_queries
from costlens.store.db import Store
from costlens.store.models import RUN_KEYS
from costlens.store.queries import list_runs
from dashboard.fmt import device_label, md_escape, run_link

NUMERIC_COST_KEYS = tuple(k for k in COST_KEYS if k != "device_kind")
RUN_TABLE_COLUMNS: tuple[str, ...] = (
    "run", "name", "project", "status", "strategy", "started", "duration", "device",
    "device_hours", "cost_usd",
)  # fmt: skip
# Table column -> the record key it sorts by (the store sorts by these; cost_usd and
# device_hours are priced, so sorting by them prices every matching run).
SORT_KEYS = {"run": "id", "started": "started_at", "duration": "duration_s"}
PRICED_SORTS = ("cost_usd", "device_hours")


def runs_frame(
    store: Store,
    prices: PriceTable | None,
    *,
    project: str | None = None,
    status: str | None = None,
    strategy: str | None = None,
    since: datetime | None = None,
) -> pd.DataFrame:
    """Runs newest first with their public keys plus the cost keys (``COST_KEYS``: cost_usd,
    device_kind, device_hours, gpu_hours, energy_kwh, mfu...; None without ``prices``);
    ``started`` is the start time as a timestamp (naive UTC)."""
    records = list_runs(
        store,
        project=project or None,
        status=status or None,
        strategy=strategy or None,
        since=since,
    )
    if prices is not None:
        records = priced_records(records, prices)
    df = pd.DataFrame(records)
    if df.empty:
        return pd.DataFrame(columns=[*RUN_KEYS, *COST_KEYS, "started"])
    df["started"] = started_times(df["started_at"])
    for col in NUMERIC_COST_KEYS:
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df else float("nan")
    return df


def started_times(values: pd.Series) -> pd.Series:
    """Naive UTC times from ISO 8601 text in any form the store may hold (with or without
    microseconds, ``Z``, ``+00:00`` or no zone, mixed in one column); text that is no date
    becomes NaT rather than a blank page."""
    out = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
    return out.dt.tz_localize(None)


def filter_options(store: Store) -> dict[str, list[str]]:
    """Distinct projects and strategies in the store, and every status (the table's filters)."""
    return {
        "project": dashboard_queries.distinct_values(store, "project"),
        "strategy": dashboard_queries.distinct_values(store, "strategy"),
        "status": list(RUN_STATUSES),
    }


def hidden_columns(store: Store) -> tuple[str, ...]:
    """Runs-table columns with nothing to tell in this store: the device when no run used an
    accelerator (every cell would say CPU, which the hours column already says in "inst-h",
    taking the space the name and start time need)."""
    return () if dashboard_queries.uses_accelerators(store) else ("device",)


def grid_request(request: dict[str, Any] | None, page_size: int) -> tuple[list, int]:
    """An AG Grid ``getRowsRequest`` as (``sort_by`` for :func:`runs_page`, page number):
    ``sortModel`` [{colId, sort}] becomes [{column_id, direction}], ``startRow`` a page."""
    request = request or {}
    sort_by = [
        {
            "column_id": str(s.get("colId")),
            "direction": "desc" if s.get("sort") == "desc" else "asc",
        }
        for s in request.get("sortModel") or []
        if isinstance(s, dict)
    ]
    start = request.get("startRow") or 0
    return sort_by, max(int(start), 0) // max(page_size, 1)


def runs_page(
    store: Store,
    prices: PriceTable,
    *,
    project: str | None = None,
    status: str | None = None,
    strategy: str | None = None,
    sort_by: list[dict[str, str]] | None = None,
    page: int = 0,
    page_size: int = 25,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the runs table: (rows, total matching runs). ``sort_by`` is a list of
    {column_id, direction} (see :func:`grid_request`); unknown columns are ignored."""
    sort_by = [s for s in (sort_by or []) if s.get("column_id") in RUN_TABLE_COLUMNS]
    start = max(int(page or 0), 0) * page_size
    if any(s["column_id"] in PRICED_SORTS for s in sort_by):
        df = runs_frame(store, prices, project=project, status=status, strategy=strategy)
        cols = [SORT_KEYS.get(s["column_id"], s["column_id"]) for s in sort_by]
        asc = [s.get("direction", "asc") == "asc" for s in sort_by]
        if len(df):
            df = df.sort_values(cols, ascending=asc, na_position="last", kind="stable")
        return table_rows(df.iloc[start : start + page_size]), len(df)
    order = [(SORT_KEYS.get(s["column_id"], s["column_id"]), s.get("direction") == "desc")
             for s in sort_by]  # fmt: skip
    records, total = dashboard_queries.runs_page(
        store, project=project, status=status, strategy=strategy, order=order,
        limit=page_size, offset=start,
    )  # fmt: skip
    return table_rows(pd.DataFrame(priced_records(records, prices))), total


def hours_text(rec: dict[str, Any]) -> str | None:
    """A run's device-hours with their unit: "16 GPU-h", or "0.25 inst-h" for a CPU run."""
    hours = rec.get("device_hours")
    kind = rec.get("device_kind")
    return (
        None if hours is None or kind not in HOURS_SHORT else f"{number(hours)} {HOURS_SHORT[kind]}"
    )


def table_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Runs as rows of the runs table (see :data:`RUN_TABLE_COLUMNS`); names stay plain text.

    ``run`` is a markdown link whose text is the escaped short id and whose target is the
    URL-quoted id; nothing else is markdown, and markdown never renders HTML in this table.
    """
    rows = []
    for rec in df.to_dict("records"):
        rid = str(rec["id"])
        rows.append(
            {
                "run": f"[{md_escape(rid[:12])}]({run_link(rid)})",
                "id": rid,
                "name": str(rec.get("name") or ""),
                "project": str(rec.get("project") or ""),
                "status": rec.get("status"),
                "strategy": rec.get("strategy"),
                "started": (rec.get("started_at") or "")[:16].replace("T", " "),
                "duration": duration(rec.get("duration_s")),
                "device": device_label(rec),
                "device_hours": hours_text(rec),
                "cost_usd": money(rec.get("cost_usd")),
            }
        )
    return rows
