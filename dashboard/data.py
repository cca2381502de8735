"""The dashboard's only door into costlens: plain functions that return DataFrames and dicts.

Every page and callback gets its figures from here; nothing here builds a component or a figure
(see :mod:`dashboard.figures`). Telemetry is aggregated and downsampled in SQL
(``costlens.store.queries``); no function loads all of a store's samples into memory.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import math
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
from sqlalchemy import case, func, select, text

from costlens.errors import CostlensError, UsageError
from costlens.paths import data_dir
from costlens.store.db import Store, open_store
from costlens.store.models import Run
from costlens.store.queries import (
    RUN_KEYS,
    count_runs,
    get_run,
    list_runs,
    run_record,
    sample_timeline,
    utcnow,
)

STORE_KEY = "costlens_store"

# How a first run gets recorded (shown by an empty store instead of an error).
FIRST_RUN_WAYS: tuple[tuple[str, str], ...] = (
    (
        "Decorator",
        'import costlens\n\n@costlens.profile(project="my-project")\ndef train():\n    ...\n\n'
        "train()",
    ),
    (
        "Context manager",
        'import costlens\n\nwith costlens.profile(project="my-project") as run:\n'
        "    for batch in loader:\n        ...\n        run.step(samples=len(batch))",
    ),
    ("Command line", "costlens run -- python train.py"),
)

PERIODS: dict[str, int | None] = {"7 days": 7, "30 days": 30, "90 days": 90, "All time": None}
DEFAULT_PERIOD = "30 days"

RUN_TABLE_COLUMNS: tuple[str, ...] = (
    "run",
    "name",
    "project",
    "status",
    "strategy",
    "started",
    "duration_h",
    "device",
    "gpu_hours",
    "cost_usd",
)


# ---------------------------------------------------------------------------- store access


def attach_store(server: Any, db_url: str | None) -> Store:
    """Open the store at ``db_url`` (create/upgrade it) and keep it on the Flask ``server``."""
    store = open_store(db_url)
    server.extensions[STORE_KEY] = store
    return store


def current_store() -> Store:
    """The store of the app serving the current request."""
    import flask

    return flask.current_app.extensions[STORE_KEY]


def store_label(store: Store) -> str:
    """The store's URL with any password masked."""
    return store.display_url


def is_empty(store: Store) -> bool:
    """True when the store holds no run yet."""
    return count_runs(store) == 0


# ---------------------------------------------------------------------------- optional modules


def optional_module(name: str) -> ModuleType | None:
    """``costlens.<name>`` when it is importable, else None (its page says "not available")."""
    try:
        return importlib.import_module(f"costlens.{name}")
    except ImportError:
        return None


def missing_message(name: str) -> str:
    return (
        f"costlens.{name} is not available in this installation yet, so this page cannot show "
        "its figures."
    )


# ---------------------------------------------------------------------------- runs


_COST_KEYS = ("cost_usd", "gpu_hours", "energy_kwh", "mfu")
_COST_CACHE: dict[tuple, dict[str, Any]] = {}
_COST_CACHE_MAX = 200_000
# The record fields costlens.cost prices a run from (its price tables are stamped separately).
_PRICED_FIELDS = ("id", "status", "duration_s", "device", "device_count", "instance_type",
                  "provider", "precision", "flops", "energy_j", "host_cpu_count")  # fmt: skip


def _prices_stamp() -> tuple:
    """Modification times of the price and electricity tables (shipped and the user's)."""
    from costlens.paths import data_dir

    catalog = optional_module("catalog")
    paths = [data_dir() / n for n in ("gpu_prices.csv", "cpu_prices.csv", "electricity.csv",
                                      "gpu_specs.csv", "gpu_aliases.csv")]  # fmt: skip
    if catalog is not None and hasattr(catalog, "user_prices_path"):
        paths.append(catalog.user_prices_path())
    return tuple(p.stat().st_mtime if p.exists() else None for p in paths)


def _price_table():
    from costlens.catalog import PriceTable

    return PriceTable.load()


def _with_costs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records with costlens.cost's cost_usd, gpu_hours, energy_kwh and mfu (None without it).

    Results are kept per run while the run's priced fields and the price tables stay the same,
    so a page shown twice prices each run once.
    """
    cost = optional_module("cost")
    if cost is None or not hasattr(cost, "add_cost_columns"):
        return [{**r, **dict.fromkeys(_COST_KEYS)} for r in records]
    stamp = _prices_stamp()
    keys = [(stamp, *(json.dumps(r.get(f), default=str) for f in _PRICED_FIELDS)) for r in records]
    todo = [r for r, k in zip(records, keys, strict=True) if k not in _COST_CACHE]
    if todo:
        if len(_COST_CACHE) + len(todo) > _COST_CACHE_MAX:
            _COST_CACHE.clear()
        priced = cost.add_cost_columns(todo, prices=_price_table())
        done = {id(r): p for r, p in zip(todo, priced, strict=True)}
        for r, k in zip(records, keys, strict=True):
            if id(r) in done:
                _COST_CACHE[k] = {c: done[id(r)].get(c) for c in _COST_KEYS}
    return [{**r, **_COST_CACHE[k]} for r, k in zip(records, keys, strict=True)]


def runs_frame(
    store: Store,
    *,
    project: str | None = None,
    status: str | None = None,
    strategy: str | None = None,
    since: datetime | None = None,
    with_costs: bool = True,
) -> pd.DataFrame:
    """Runs newest first with their public keys plus cost_usd, gpu_hours, energy_kwh, mfu
    (None unless ``with_costs``). ``started`` is the start time as a timestamp (naive UTC).
    """
    if since is None:
        records = list_runs(
            store, project=project or None, status=status or None, strategy=strategy or None
        )
    else:
        if project or status or strategy:
            raise UsageError("runs_frame: filter by a period or by fields, not both.")
        records = runs_since(store, since)
    if with_costs:
        records = _with_costs(records)
    else:
        records = [{**r, **dict.fromkeys(_COST_KEYS)} for r in records]
    df = pd.DataFrame(records)
    if df.empty:
        return pd.DataFrame(columns=[*_run_keys_plus(), "started"])
    df["started"] = pd.to_datetime(df["started_at"].str.rstrip("Z"))
    for col in ("cost_usd", "gpu_hours", "energy_kwh", "mfu"):
        if col not in df:
            df[col] = None
        df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


def _run_keys_plus() -> list[str]:
    return [*RUN_KEYS, "cost_usd", "gpu_hours", "energy_kwh", "mfu"]


def runs_since(store: Store, since: datetime) -> list[dict[str, Any]]:
    """Public records of runs started at or after ``since`` (naive UTC), newest first."""
    return list_runs(store, since=since)


def filter_options(store: Store) -> dict[str, list[str]]:
    """Distinct projects, statuses and strategies in the store (for the runs table's filters)."""
    table = Run.__table__
    out: dict[str, list[str]] = {}
    with store.engine.connect() as conn:
        for key, col in (("project", table.c.project), ("strategy", table.c.strategy)):
            out[key] = sorted(v for (v,) in conn.execute(select(col).distinct()) if v)
    from costlens.store.models import RUN_STATUSES

    out["status"] = list(RUN_STATUSES)
    return out


_PRICED_SORTS = ("cost_usd", "gpu_hours")


def _runs_select(project: str | None, status: str | None, strategy: str | None, now: datetime):
    """A select of runs rows with the table's filters (the store's one lost rule)."""
    from costlens.store.queries import select_runs

    return select_runs(project=project, status=status, strategy=strategy, now=now)


def _sort_columns(store: Store, column_id: str) -> list[Any]:
    table = Run.__table__
    if column_id == "duration_h":
        end = func.coalesce(table.c.ended_at, table.c.heartbeat_at)
        if store.dialect == "postgresql":
            return [func.extract("epoch", end - table.c.started_at)]
        return [func.julianday(end) - func.julianday(table.c.started_at)]
    if column_id == "device":
        return [table.c.device_name, table.c.device_count]
    name = {"run": "id", "started": "started_at"}.get(column_id, column_id)
    return [table.c[name]]


def runs_page(
    store: Store,
    *,
    project: str | None = None,
    status: str | None = None,
    strategy: str | None = None,
    sort_by: list[dict[str, str]] | None = None,
    page: int = 0,
    page_size: int = 25,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the runs table (rows, total matching runs), filtered, sorted and paged in
    SQL; only the page's runs are priced. Sorting by a priced column (cost_usd, gpu_hours)
    prices every matching run."""
    sort_by = [s for s in (sort_by or []) if s.get("column_id") in RUN_TABLE_COLUMNS]
    start = max(int(page or 0), 0) * page_size
    if any(s["column_id"] in _PRICED_SORTS for s in sort_by):
        df = runs_frame(store, project=project, status=status, strategy=strategy)
        cols = [{"run": "id", "started": "started_at", "duration_h": "duration_s"}.get(
            s["column_id"], s["column_id"]) for s in sort_by]  # fmt: skip
        asc = [s.get("direction", "asc") == "asc" for s in sort_by]
        if len(df):
            df = df.sort_values(cols, ascending=asc, na_position="last", kind="stable")
        return table_rows(df.iloc[start : start + page_size]), len(df)
    now = utcnow()
    stmt = _runs_select(project, status, strategy, now)
    order = []
    for s in sort_by:
        for col in _sort_columns(store, s["column_id"]):
            order.append(col.desc() if s.get("direction") == "desc" else col.asc())
    table = Run.__table__
    order += [table.c.started_at.desc(), table.c.id]
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(stmt.subquery())).scalar() or 0
        rows = conn.execute(stmt.order_by(*order).limit(page_size).offset(start))
        records = [run_record(dict(r._mapping), now) for r in rows]
    df = pd.DataFrame(_with_costs(records))
    return table_rows(df), int(total)


def _fmt_hours(duration_s: Any) -> float | None:
    if duration_s is None or (isinstance(duration_s, float) and math.isnan(duration_s)):
        return None
    return _round(float(duration_s) / 3600, 2)


def _round(value: Any, digits: int = 2) -> float | None:
    """``value`` rounded to ``digits`` decimals, or to two significant digits when those
    decimals would show a non-zero value as 0 (a $0.0000056 CPU run is not free)."""
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(f):
        return None
    if f and abs(f) < 10**-digits:
        digits = -math.floor(math.log10(abs(f))) + 1
    return round(f, digits)


def run_link(run_id: str) -> str:
    """The dashboard path of a run's page."""
    from urllib.parse import quote

    return f"/runs/{quote(run_id, safe='')}"


def _md_escape(value: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_{}[]()#+-.!<>|~" else ch for ch in value)


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
                "run": f"[{_md_escape(rid[:12])}]({run_link(rid)})",
                "id": rid,
                "name": str(rec.get("name") or ""),
                "project": str(rec.get("project") or ""),
                "status": rec.get("status"),
                "strategy": rec.get("strategy"),
                "started": (rec.get("started_at") or "")[:16].replace("T", " "),
                "duration_h": _fmt_hours(rec.get("duration_s")),
                "device": device_label(rec),
                "gpu_hours": _round(rec.get("gpu_hours")),
                "cost_usd": _round(rec.get("cost_usd")),
            }
        )
    return rows


def device_label(rec: dict[str, Any]) -> str:
    count = int(rec.get("device_count") or 0)
    name = rec.get("device") or ""
    if not count or not name:
        return "CPU"
    return f"{count} x {name}"


# ---------------------------------------------------------------------------- overview


def period_start(period: str, now: datetime | None = None) -> datetime | None:
    """Naive-UTC start of a period named in :data:`PERIODS` (None: all time)."""
    if period not in PERIODS:
        raise UsageError(f"unknown period {period!r}; choose one of {', '.join(PERIODS)}.")
    days = PERIODS[period]
    return None if days is None else (now or utcnow()) - timedelta(days=days)


def _weighted_mean(values: pd.Series, weights: pd.Series) -> float | None:
    mask = values.notna() & weights.notna() & (weights > 0)
    if not mask.any():
        return None
    return float((values[mask] * weights[mask]).sum() / weights[mask].sum())


def overview(store: Store, period: str = DEFAULT_PERIOD, now: datetime | None = None) -> dict:
    """The overview's figures for runs started in ``period``.

    Keys: ``runs`` (count), ``cost_usd``, ``gpu_hours``, ``energy_kwh``, ``gpu_util_mean_pct``
    (mean GPU utilisation over every GPU reading, weighted by readings), ``mfu_mean``
    (GPU-hour weighted), ``idle_waste_usd`` (None until costlens.cost can price idle time),
    ``spend`` (DataFrame: day, project, cost_usd), ``costliest`` (DataFrame of the ten costliest
    runs), ``priced`` (whether costs could be computed).
    """
    since = period_start(period, now)
    df = runs_frame(store, since=since)
    out: dict[str, Any] = {"period": period, "runs": len(df)}
    priced = bool(df["cost_usd"].notna().any()) if len(df) else False
    out["priced"] = priced
    out["cost_usd"] = float(df["cost_usd"].sum()) if priced else None
    out["gpu_hours"] = float(df["gpu_hours"].sum()) if df["gpu_hours"].notna().any() else None
    energy = df["energy_kwh"] if df["energy_kwh"].notna().any() else (
        pd.to_numeric(df.get("energy_j"), errors="coerce") / 3.6e6 if len(df) else df["energy_kwh"]
    )  # fmt: skip
    out["energy_kwh"] = float(energy.sum()) if len(df) and energy.notna().any() else None
    out["mfu_mean"] = _weighted_mean(df["mfu"], df["gpu_hours"]) if len(df) else None
    summary = sample_summaries(store, list(df["id"])) if len(df) else {}
    n_util = sum(v["n_util_readings"] for v in summary.values())
    out["gpu_util_mean_pct"] = (
        sum(v["gpu_util_mean_pct"] * v["n_util_readings"] for v in summary.values()
            if v["n_util_readings"]) / n_util
        if n_util
        else None
    )  # fmt: skip
    out["idle_threshold_pct"] = idle_threshold_pct()
    out["idle_waste_usd"] = idle_waste_usd(df, summary) if priced else None
    spend = df.dropna(subset=["cost_usd"]) if len(df) else df
    if len(spend):
        spend = (
            spend.assign(day=spend["started"].dt.floor("D"))
            .groupby(["day", "project"], as_index=False)["cost_usd"]
            .sum()
        )
    out["spend"] = (
        pd.DataFrame(spend, columns=["day", "project", "cost_usd"])
        if len(spend)
        else pd.DataFrame(columns=["day", "project", "cost_usd"])
    )
    ranked = df.dropna(subset=["cost_usd"]).nlargest(10, "cost_usd") if priced else df.head(0)
    out["costliest"] = ranked
    return out


def idle_threshold_pct() -> float | None:
    """GPU utilisation (%) under which costlens.cost counts a reading as idle."""
    from costlens.vocab import DEFAULT_IDLE_THRESHOLD_PCT

    return DEFAULT_IDLE_THRESHOLD_PCT


def sample_summaries(store: Store, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per-run GPU utilisation aggregates (``costlens.cost.sample_summary`` without its power
    pass: the overview needs utilisation only). Empty without costlens.cost."""
    cost = optional_module("cost")
    if cost is None or not run_ids:
        return {}
    return cost.sample_summary(store, run_ids, power=False)


def idle_waste_usd(runs: pd.DataFrame, summary: dict[str, dict[str, Any]]) -> float | None:
    """Dollars paid while GPUs sat idle: each priced run's cost times its idle fraction of GPU
    readings (costlens.cost's definition). None when no priced run has GPU readings."""
    total, any_run = 0.0, False
    for rid, cost_usd in zip(runs["id"], runs["cost_usd"], strict=True):
        frac = (summary.get(rid) or {}).get("idle_fraction")
        if frac is None or cost_usd is None or pd.isna(cost_usd):
            continue
        total += float(cost_usd) * float(frac)
        any_run = True
    return total if any_run else None


# ---------------------------------------------------------------------------- one run


def run(store: Store, run_id: str) -> dict[str, Any]:
    """One run's public record with its cost columns (RunNotFoundError when unknown)."""
    return _with_costs([get_run(store, run_id)])[0]


# Above this many readings a run's timeline reads windows at the start of each time bucket
# instead of every reading (see timeline_windows).
WINDOWED_ABOVE = 100_000
READINGS_PER_WINDOW = 64

_TIMELINE_WINDOWS_SQL = """
WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i + 1 < :buckets)
SELECT s.device_index AS device_index,
       AVG(s.t_unix_s) AS t_unix_s,
       AVG(s.gpu_util_pct) AS gpu_util_pct,
       AVG(s.mem_used_bytes) AS mem_used_bytes,
       MAX(s.mem_total_bytes) AS mem_total_bytes,
       AVG(s.power_w) AS power_w,
       AVG(s.host_cpu_pct) AS host_cpu_pct,
       AVG(s.host_ram_bytes) AS host_ram_bytes,
       COUNT(*) AS n
FROM b JOIN samples s
  ON s.run_id = :r
 AND s.t_unix_s >= :lo + b.i * :w
 AND s.t_unix_s < :lo + b.i * :w + :win
GROUP BY s.device_index, b.i
ORDER BY s.device_index, t_unix_s
"""


def timeline_windows(store: Store, run_id: str, *, max_points: int = 600) -> pd.DataFrame | None:
    """A long run's timeline from windows at the start of ``max_points`` time buckets, each
    holding about READINGS_PER_WINDOW readings, averaged per device in SQL: one index range seek
    per bucket, so the cost does not grow with the run's length. None for a run with at most
    about WINDOWED_ABOVE readings (estimated from its first thousandth; read them all with
    ``sample_timeline``). Same columns as
    ``costlens.store.queries.sample_timeline`` (``n``: readings averaged, not all in the bucket).
    """
    with store.engine.connect() as conn:
        lo, hi = conn.execute(
            text("SELECT MIN(t_unix_s), MAX(t_unix_s) FROM samples WHERE run_id = :r"),
            {"r": run_id},
        ).one()
        if lo is None or hi <= lo:
            return None
        # Readings estimated from the first thousandth of the run (an index range count).
        head = conn.execute(
            text("SELECT COUNT(*) FROM samples WHERE run_id = :r AND t_unix_s < :cut"),
            {"r": run_id, "cut": lo + (hi - lo) / 1000},
        ).scalar()
        n = (head or 0) * 1000
        if n <= WINDOWED_ABOVE:
            return None
        width = (hi - lo) / max_points * (1 + 1e-9)
        window = width * min(1.0, READINGS_PER_WINDOW / (n / max_points))
        params = {"buckets": max_points, "r": run_id, "lo": lo, "w": width, "win": window}
        return pd.read_sql_query(text(_TIMELINE_WINDOWS_SQL), conn, params=params)


def run_timeline(store: Store, run_id: str, *, max_points: int = 600) -> pd.DataFrame:
    """A run's telemetry downsampled in SQL (every reading averaged into ``max_points`` buckets;
    windows per bucket for very long runs), with ``elapsed_s`` since its first reading,
    ``mem_used_gib`` and ``host_ram_gib`` added."""
    tl = timeline_windows(store, run_id, max_points=max_points)
    if tl is None:
        tl = sample_timeline(store, run_id, max_points=max_points)
    tl = tl.astype({c: "float64" for c in tl.columns if c not in ("device_index", "n")})
    if len(tl):
        tl["elapsed_s"] = tl["t_unix_s"] - tl["t_unix_s"].min()
    else:
        tl["elapsed_s"] = pd.Series(dtype="float64")
    tl["mem_used_gib"] = tl["mem_used_bytes"] / 2**30
    tl["host_ram_gib"] = tl["host_ram_bytes"] / 2**30
    return tl


def has_gpu_readings(timeline: pd.DataFrame) -> bool:
    """True when a timeline holds readings of at least one GPU."""
    return bool(len(timeline) and (timeline["device_index"] >= 0).any())


def run_cost_detail(store: Store, run_id: str) -> dict[str, Any] | None:
    """costlens.cost's full breakdown of one run, with its samples' idle waste and energy
    (None until costlens.cost is installed)."""
    cost = optional_module("cost")
    if cost is None or not hasattr(cost, "cost_breakdown"):
        return None
    return cost.cost_breakdown(store, run_id, prices=_price_table())


def run_status(store: Store, run_id: str) -> str:
    """A run's effective status now (running, completed, lost, ...)."""
    return get_run(store, run_id)["status"]


def _num_text(value: Any, fmt: str, suffix: str = "") -> str:
    f = _round(value, 12)
    return "-" if f is None else f"{f:{fmt}}{suffix}"


def run_facts(record: dict[str, Any], detail: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A run's identity and measured figures as (label, text) pairs for its page."""
    d = detail or {}
    mfu = d.get("mfu", record.get("mfu"))
    energy_kwh = d.get("energy_kwh", record.get("energy_kwh"))
    if energy_kwh is None and record.get("energy_j") is not None:
        energy_kwh = record["energy_j"] / 3.6e6
    duration_h = None if record.get("duration_s") is None else record["duration_s"] / 3600
    energy = _num_text(energy_kwh, ",.3f", " kWh")
    if record.get("energy_source") and energy != "-":
        energy += f" ({record['energy_source']})"
    return [
        ("id", str(record["id"])),
        ("name", str(record.get("name") or "")),
        ("project", str(record["project"])),
        ("status", str(record["status"])),
        ("strategy", str(record["strategy"])),
        ("tags", ", ".join(str(t) for t in record.get("tags") or [])),
        ("started (UTC)", str(record.get("started_at") or "-")),
        ("ended (UTC)", str(record.get("ended_at") or "-")),
        ("wall time", _num_text(duration_h, ",.2f", " h")),
        ("hardware", device_label(record)),
        ("precision", str(record.get("precision") or "-")),
        ("steps / samples / tokens",
         f"{record['steps']:,} / {record['samples']:,} / {record['tokens']:,}"),
        ("FLOPs executed", _num_text(record.get("flops") or None, ".3e")),
        ("achieved FLOP/s", _num_text(d.get("achieved_flops_per_s"), ".3e")),
        ("MFU", _num_text(None if mfu is None else 100 * mfu, ".1f", "%")),
        ("energy", energy),
        ("command", str(record.get("command") or "")),
    ]  # fmt: skip


def cost_parts(detail: dict[str, Any] | None) -> list[tuple[str, float]]:
    """The cost breakdown of a run as (label, US$) pairs (empty when it is not priced)."""
    if not detail or detail.get("cost_usd") is None:
        return []
    parts = [("instance time", float(detail["cost_usd"]))]
    if detail.get("idle_waste_usd") is not None:
        parts.append(
            (f"of which GPUs idle (<{detail.get('idle_threshold_pct'):g}%)",
             float(detail["idle_waste_usd"]))
        )  # fmt: skip
    if detail.get("energy_cost_usd") is not None:
        parts.append(("energy at grid price (own hardware)", float(detail["energy_cost_usd"])))
    return parts


def quote_text(detail: dict[str, Any] | None) -> list[str]:
    """Which price priced the run and why, the electricity rate, and any notes (text lines)."""
    if detail is None:
        return [missing_message("cost")]
    lines = []
    q = detail.get("quote")
    if q:
        n = detail.get("instances") or 1
        lines.append(
            f"Priced as {n} x {q.get('provider')} {q.get('instance_type')} ({q.get('region')}) "
            f"at ${q.get('usd_per_hour', 0):,.2f}/h{' spot' if q.get('spot') else ''}, "
            f"price table as of {q.get('as_of')}."
        )
        if detail.get("quote_reason"):
            lines.append(f"Why this instance: {detail['quote_reason']}.")
    if detail.get("energy_cost_usd") is not None:
        lines.append(
            f"Electricity: ${detail['electricity_usd_per_kwh']:.3f}/kWh "
            f"({detail.get('electricity_source')}, as of {detail.get('electricity_as_of')}); "
            "cloud prices already include it."
        )
    lines.extend(str(n) for n in detail.get("notes") or [])
    return lines


def provider_alternatives(detail: dict[str, Any] | None) -> pd.DataFrame:
    """What the run would have cost on each provider's matching instance (columns provider,
    instance_type, cost_usd, spot_instance_type, spot_cost_usd, as_of), cheapest first."""
    cols = ["provider", "instance_type", "cost_usd", "spot_instance_type", "spot_cost_usd",
            "as_of"]  # fmt: skip
    alts = (detail or {}).get("alternatives") or []
    df = pd.DataFrame(alts)
    for c in cols:
        if c not in df:
            df[c] = None
    df = df[cols]
    for c in ("cost_usd", "spot_cost_usd"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df.sort_values("cost_usd", na_position="last").reset_index(drop=True)


def metric_items(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The run's logged metrics as (name, value) text pairs."""
    out = []
    for key, value in (record.get("metrics") or {}).items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif not isinstance(value, (str, int)):
            value = json.dumps(value)
        out.append((str(key), str(value)))
    return out


# ---------------------------------------------------------------------------- prices


def prices_frame() -> pd.DataFrame | None:
    """$/GPU-hour by accelerator and provider: cheapest on-demand and spot row of each, with
    the price table's source and as_of. None until costlens.catalog is installed."""
    catalog = optional_module("catalog")
    if catalog is None:
        return None
    prices = catalog.load_prices()
    df = prices.copy()
    df["spot_usd_per_gpu_hour"] = df["spot_price_usd_hour"] / df["gpu_count"].where(
        df["gpu_count"] > 0, 1
    )
    grouped = (
        df.groupby(["gpu", "provider"], as_index=False)
        .agg(
            usd_per_gpu_hour=("usd_per_gpu_hour", "min"),
            spot_usd_per_gpu_hour=("spot_usd_per_gpu_hour", "min"),
            instances=("instance_type", "nunique"),
            as_of=("as_of", "max"),
        )
        .sort_values(["gpu", "usd_per_gpu_hour"])
        .reset_index(drop=True)
    )
    return grouped


def price_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """:func:`prices_frame` as text rows (on-demand and spot $/GPU-hour, "-" where none)."""
    rows = []
    for rec in table.to_dict("records"):
        spot = _round(rec.get("spot_usd_per_gpu_hour"), 3)
        rows.append(
            {
                "gpu": rec["gpu"] if rec["gpu"] != "CPU" else "CPU (per instance-hour)",
                "provider": rec["provider"],
                "on_demand": f"{rec['usd_per_gpu_hour']:,.3f}",
                "spot": "-" if spot is None else f"{spot:,.3f}",
                "instances": int(rec["instances"]),
                "as_of": rec["as_of"],
            }
        )
    return rows


def price_tables() -> pd.DataFrame | None:
    """Each price table (source) with its as_of date and row count."""
    catalog = optional_module("catalog")
    if catalog is None:
        return None
    prices = catalog.load_prices()
    return (
        prices.groupby(["provider", "source", "as_of"], as_index=False)
        .size()
        .rename(columns={"size": "rows"})
        .sort_values(["provider", "as_of"])
        .reset_index(drop=True)
    )


# ---------------------------------------------------------------------------- uploads


def decode_upload(
    contents: str, filename: str | None = None, *, max_bytes: int = 5_000_000
) -> bytes:
    """The bytes of a dcc.Upload ``contents`` data URL (UsageError when it is not one)."""
    if not contents or "," not in contents:
        raise UsageError(f"the upload {filename or ''} is empty or not a file.".replace("  ", " "))
    header, b64 = contents.split(",", 1)
    if ";base64" not in header:
        raise UsageError("the upload is not base64-encoded.")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UsageError(f"the upload {filename or ''} could not be decoded: {exc}.") from exc
    if len(raw) > max_bytes:
        raise UsageError(f"the upload is larger than {max_bytes // 1_000_000} MB.")
    return raw


def write_temp(raw: bytes, suffix: str) -> Path:
    """Write bytes to a fresh temporary file and return its path (the caller removes it)."""
    fd, name = tempfile.mkstemp(suffix=suffix, prefix="costlens_dash_")
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    return Path(name)


def error_text(exc: BaseException) -> str:
    """The one-line message to show for an error a page can recover from."""
    if isinstance(exc, CostlensError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------------- estimate

ESTIMATE_DEFAULTS: dict[str, Any] = {
    "params": "1.3B",
    "tokens": "20B",
    "gpu": "A100-80GB-SXM",
    "gpus": 8,
    "precision": "bf16",
    "spot": False,
    "trainable_fraction": "",
    "labelled_samples": "",
    "scratch_labelled_samples": "",
    "usd_per_label": "",
}
ESTIMATE_FORM_IDS: tuple[str, ...] = tuple(ESTIMATE_DEFAULTS)  # form field ids: est-<key>
_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}


def parse_quantity(value: Any, what: str, *, required: bool = True) -> float | None:
    """``1.3e9``, ``1,300,000,000``, ``1.3B``, ``125M``, ``20k`` -> float (UsageError if bad)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise UsageError(f"{what} is required.")
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text_value = str(value).strip().replace(",", "").replace("_", "").lower()
        scale = _SUFFIXES.get(text_value[-1:], 1.0)
        if scale != 1.0:
            text_value = text_value[:-1]
        try:
            number = float(text_value) * scale
        except ValueError:
            raise UsageError(
                f"{what}: {value!r} is not a number (examples: 1.3e9, 1.3B, 125M)."
            ) from None
    if not math.isfinite(number) or number < 0:
        raise UsageError(f"{what} must be a non-negative number (got {value!r}).")
    return number


_MODEL_CACHE: dict[str, Any] = {}


def estimator_model() -> Any:
    """The estimator's model (saved fit, else prior-only), reloaded when its file changes."""
    est = optional_module("estimator")
    if est is None:
        return None
    try:
        path = est.model_path()
        stamp = path.stat().st_mtime if path.exists() else None
    except (AttributeError, OSError, CostlensError):
        stamp = None
    cached = _MODEL_CACHE.get("model")
    if cached is None or _MODEL_CACHE.get("stamp") != stamp:
        _MODEL_CACHE["model"] = est.load_model()
        _MODEL_CACHE["stamp"] = stamp
    return _MODEL_CACHE["model"]


def estimate_options() -> dict[str, list[str]] | None:
    """Choices of the what-if form: accelerators with a price, precisions, providers."""
    catalog = optional_module("catalog")
    est = optional_module("estimator")
    if catalog is None or est is None:
        return None
    prices = catalog.load_prices()
    priced = set(prices["gpu"])
    gpus = [s.key for s in catalog.gpu_specs() if s.key in priced and s.key != "CPU"]
    return {
        "gpu": gpus,
        "precision": list(est.PRECISIONS),
        "provider": sorted(set(prices["provider"])),
        "strategy": list(est.STRATEGIES),
    }


def scenario_from_form(form: dict[str, Any]) -> Any:
    """The estimator Scenario of the what-if form's values (UsageError naming a bad field)."""
    est = optional_module("estimator")
    gpus = parse_quantity(form.get("gpus"), "GPUs")
    if gpus is None or gpus < 1 or gpus != int(gpus):
        raise UsageError("GPUs must be a whole number of at least 1.")
    frac = parse_quantity(form.get("trainable_fraction"), "trainable fraction", required=False)
    if frac is not None and not 0 < frac <= 1:
        raise UsageError("trainable fraction must be in (0, 1].")
    labels = parse_quantity(form.get("labelled_samples"), "labelled samples", required=False)
    per_label = parse_quantity(form.get("usd_per_label"), "US$ per label", required=False)
    if (labels is None) != (per_label is None):
        raise UsageError("give both labelled samples and US$ per label, or neither.")
    return est.Scenario(
        params=parse_quantity(form.get("params"), "parameters"),
        tokens=parse_quantity(form.get("tokens"), "tokens"),
        gpu=str(form.get("gpu") or ESTIMATE_DEFAULTS["gpu"]),
        gpus=int(gpus),
        precision=str(form.get("precision") or "bf16"),
        spot=bool(form.get("spot")),
        trainable_fraction=frac,
        labelled_samples=labels,
        usd_per_label=per_label,
    )


def estimate(form: dict[str, Any]) -> dict[str, Any] | None:
    """What-if estimate for the form: every strategy on the cheapest instance (with savings and
    ROI against scratch) and every strategy on each provider that offers the hardware.

    Returns {"strategies": DataFrame, "by_provider": DataFrame, "summary": dict,
    "providers_missing": [provider, ...]}; None until costlens.estimator is installed.
    """
    est = optional_module("estimator")
    catalog = optional_module("catalog")
    if est is None or catalog is None:
        return None
    import dataclasses

    scenario = scenario_from_form(form)
    model = estimator_model()
    scratch_labels = parse_quantity(
        form.get("scratch_labelled_samples"), "labelled samples from scratch", required=False
    )
    cmp = est.compare(scenario, model=model, scratch_labelled_samples=scratch_labels)
    strategies = pd.DataFrame(cmp["strategies"])
    scenarios, missing = [], []
    providers = estimate_options()["provider"]  # type: ignore[index]
    for provider in providers:
        try:
            catalog.cheapest_instance(
                scenario.gpu, scenario.gpus, provider=provider, spot=scenario.spot
            )
        except CostlensError:
            missing.append(provider)
            continue
        for row in cmp["strategies"]:
            kw: dict[str, Any] = {"strategy": row["strategy"], "provider": provider}
            if row["strategy"] in ("scratch", "full-finetune"):
                kw["trainable_fraction"] = None
            if row["strategy"] == "scratch" and scratch_labels is not None:
                kw["labelled_samples"] = scratch_labels
            scenarios.append(dataclasses.replace(scenario, **kw))
    by_provider = pd.DataFrame(
        [e.as_dict() for e in est.estimate_many(scenarios, model=model)] if scenarios else []
    )
    summary = {k: v for k, v in cmp.items() if k != "strategies"}
    return {
        "strategies": strategies,
        "by_provider": by_provider,
        "summary": summary,
        "providers_missing": missing,
    }


def estimate_rows(strategies: pd.DataFrame) -> list[dict[str, str]]:
    """Per-strategy text rows: total cost with its 80% interval, GPU-hours, wall time, energy,
    savings and ROI against scratch, and where it is priced."""
    rows = []
    for r in strategies.to_dict("records"):
        rows.append(
            {
                "strategy": r["strategy"],
                "total": _interval_text(r, "total_cost_usd", "${:,.0f}"),
                "compute": _interval_text(r, "cost_usd", "${:,.0f}"),
                "labels": "-" if not r.get("label_cost_usd") else f"${r['label_cost_usd']:,.0f}",
                "gpu_hours": _interval_text(r, "gpu_hours", "{:,.1f}"),
                "wall_hours": _interval_text(r, "wall_hours", "{:,.1f}"),
                "energy": _interval_text(r, "energy_kwh", "{:,.1f}"),
                "savings": "-"
                if r.get("savings_usd") is None or r["strategy"] == "scratch"
                else f"${r['savings_usd']:,.0f}",
                "roi": "-"
                if r.get("roi") is None or r["strategy"] == "scratch"
                else f"{r['roi']:.2f}",
                "where": f"{r.get('provider') or '-'} {r.get('instance_type') or ''}".strip(),
                "mfu": "-" if r.get("mfu_assumed") is None else f"{100 * r['mfu_assumed']:.0f}%",
                "extrapolation": "yes" if r.get("extrapolation") else "no",
            }
        )
    return rows


def _interval_text(r: dict[str, Any], key: str, fmt: str) -> str:
    mid, lo, hi = r.get(key), r.get(f"{key}_low"), r.get(f"{key}_high")
    if mid is None:
        return "-"
    if lo is None or hi is None:
        return fmt.format(mid)
    return f"{fmt.format(mid)} ({fmt.format(lo)} to {fmt.format(hi)})"


# ---------------------------------------------------------------------------- forecast

PLAN_SUFFIXES = (".csv", ".toml", ".yaml", ".yml")


def example_plan_path() -> Path:
    """The shipped example plan (data/example_plan.csv)."""
    from costlens.paths import data_dir

    return data_dir() / "example_plan.csv"


def plan_upload(contents: str | None, filename: str | None) -> dict[str, str]:
    """A dcc.Upload result checked and kept as plain data for a dcc.Store."""
    name = os.path.basename(filename or "plan.csv")
    suffix = Path(name).suffix.lower()
    if suffix not in PLAN_SUFFIXES:
        raise UsageError(f"{name}: a plan is a {', '.join(PLAN_SUFFIXES)} file.")
    decode_upload(contents or "", name)  # refuse what cannot be decoded now, not later
    return {"name": name, "contents": contents or ""}


def run_forecast(
    upload: dict[str, str] | None,
    *,
    budget_usd: float | None = None,
    budget_period: str = "month",
) -> Any:
    """The forecast of the uploaded plan (``upload`` from :func:`plan_upload`) or, when None,
    of the shipped example plan. None until costlens.forecast is installed."""
    fmod = optional_module("forecast")
    if fmod is None:
        return None
    if budget_usd is not None and not budget_usd > 0:
        budget_usd = None
    model = estimator_model()
    if not upload:
        return fmod.forecast(
            example_plan_path(), budget_usd=budget_usd, budget_period=budget_period, model=model
        )
    raw = decode_upload(upload["contents"], upload["name"])
    path = write_temp(raw, Path(upload["name"]).suffix or ".csv")
    try:
        jobs = fmod.load_plan(path)
    except CostlensError as exc:  # name the user's file, not the temporary copy
        raise type(exc)(str(exc).replace(str(path), upload["name"])) from None
    finally:
        path.unlink(missing_ok=True)
    return fmod.forecast(jobs, budget_usd=budget_usd, budget_period=budget_period, model=model)


def forecast_file(fc: Any, fmt: str) -> tuple[bytes, str]:
    """The forecast written as ``fmt`` (xlsx or csv) by costlens.export: (bytes, file name)."""
    if fmt not in ("xlsx", "csv"):
        raise UsageError(f"unknown download format {fmt!r}; choose xlsx or csv.")
    export = optional_module("export")
    writer = getattr(export, f"write_{fmt}") if export is not None else None
    if writer is None:
        fmod = optional_module("forecast")
        writer = getattr(fmod, f"write_{fmt}")
    tmpdir = Path(tempfile.mkdtemp(prefix="costlens_dash_"))
    try:
        path = writer(fc, tmpdir / f"forecast.{fmt}")
        return Path(path).read_bytes(), f"costlens_forecast.{fmt}"
    finally:
        for p in tmpdir.iterdir():
            p.unlink(missing_ok=True)
        tmpdir.rmdir()


def forecast_rows(fc: Any) -> list[dict[str, str]]:
    """The monthly forecast as text rows (expected cost with its 80% interval, GPU-hours,
    energy, runs, budget status)."""
    rows = []
    for r in fc.months.to_dict("records"):
        p_over = r.get("p_over_budget")
        rows.append(
            {
                "month": str(r["month"]),
                "runs": str(int(r["runs"])),
                "cost": _interval_text(r, "cost_usd", "${:,.0f}"),
                "gpu_hours": _interval_text(r, "gpu_hours", "{:,.0f}"),
                "energy": _interval_text(r, "energy_kwh", "{:,.0f}"),
                "over": "-"
                if p_over is None or (isinstance(p_over, float) and math.isnan(p_over))
                else f"{100 * p_over:.0f}% chance over budget",
            }
        )
    return rows


def forecast_notes(fc: Any) -> list[str]:
    """Totals, budget verdict and what-ifs as sentences."""
    t = fc.total
    notes = [
        f"{t['jobs']} planned jobs ({t['runs']} runs): expected ${t['cost_usd']:,.0f} "
        f"(80%: ${t['cost_usd_low']:,.0f} to ${t['cost_usd_high']:,.0f}), "
        f"{t['gpu_hours']:,.0f} GPU-hours, {t['energy_kwh']:,.0f} kWh."
    ]
    if fc.budget:
        over = fc.budget.get("over_months") or []
        per = "a month" if fc.budget["period"] == "month" else "in total"
        notes.append(
            f"Over the budget of ${fc.budget['budget_usd']:,.0f} {per}: {', '.join(over)}."
            if over
            else f"Within the budget of ${fc.budget['budget_usd']:,.0f} {per} (expected cost)."
        )
    for name, w in (fc.what_ifs or {}).items():
        if w.get("savings_usd") is None:
            continue
        notes.append(
            f"What if ({name.replace('_', ' ')}): saves ${w['savings_usd']:,.0f} "
            f"(80%: ${w.get('savings_usd_low', 0):,.0f} to ${w.get('savings_usd_high', 0):,.0f}); "
            f"{w.get('description', '')}."
        )
    return notes


def forecast_download(
    upload: dict[str, str] | None, budget: Any, period: str | None, fmt: str
) -> tuple[bytes, str]:
    """The forecast of the chosen plan and budget as a file: (bytes, file name)."""
    budget_usd = parse_quantity(budget, "budget", required=False)
    fc = run_forecast(upload, budget_usd=budget_usd, budget_period=period or "month")
    if fc is None:
        raise UsageError(missing_message("forecast"))
    return forecast_file(fc, fmt)


EXAMPLE_PLAN_LABEL = "shipped example plan (data/example_plan.csv)"


def choose_plan(
    use_example: bool, contents: str | None, filename: str | None
) -> tuple[dict[str, str] | None, str]:
    """(plan for the dcc.Store, label): the example plan, or the checked upload."""
    if use_example or not contents:
        return None, EXAMPLE_PLAN_LABEL
    upload = plan_upload(contents, filename)
    return upload, f"uploaded plan: {upload['name']}"


# ---------------------------------------------------------------------------- transfer vs scratch

TRANSFER_STRATEGIES = ("full-finetune", "lora", "frozen-features")
TRANSFER_RUNS_PER_STRATEGY = 10  # the newest completed runs of each strategy are compared
# A dated reference table like the others in data/ (shipped in the wheel as costlens/data).
CLAIMS_FILE = data_dir() / "claims.csv"
BUDGETS = (
    ("cost", "cost_usd"),
    ("time", "duration_h"),
    ("energy", "energy_kwh"),
    ("labelled data", "labelled"),
)


def claimed_saving() -> dict[str, Any]:
    """The commonly claimed transfer-learning saving: its wording, percentage, source and date
    (a quoted industry claim from data/claims.csv, never a costlens figure)."""
    df = pd.read_csv(CLAIMS_FILE, dtype={"as_of": str})
    row = df[df["key"] == "transfer_learning_saving"].iloc[0]
    return {
        "saving_pct": float(row["saving_pct"]),
        "wording": str(row["wording"]),
        "source": str(row["source"]),
        "as_of": str(row["as_of"]),
    }


def transfer_projects(store: Store) -> list[str]:
    """Projects with at least one completed scratch run and one completed transfer run."""
    table = Run.__table__
    is_scratch = func.sum(case((table.c.strategy == "scratch", 1), else_=0))
    is_transfer = func.sum(case((table.c.strategy.in_(TRANSFER_STRATEGIES), 1), else_=0))
    stmt = (
        select(table.c.project)
        .where(table.c.status == "completed")
        .group_by(table.c.project)
        .having(is_scratch > 0, is_transfer > 0)
        .order_by(table.c.project)
    )
    with store.engine.connect() as conn:
        return [p for (p,) in conn.execute(stmt)]


def transfer_metrics(store: Store, project: str | None) -> tuple[list[str], str | None]:
    """(numeric metrics logged by the project's compared runs, the default one)."""
    if not project:
        return [], None
    cmp = transfer_comparison(store, project)
    return cmp["metrics"], cmp["metric"]


def _metric_keys(records: list[dict[str, Any]]) -> list[str]:
    keys: dict[str, int] = {}
    for r in records:
        for k, v in (r.get("metrics") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "labelled_samples":
                keys[k] = keys.get(k, 0) + 1
    return sorted(keys, key=lambda k: (-keys[k], k))


def matched_scratch(scratch: pd.DataFrame, t: dict[str, Any]) -> tuple[pd.DataFrame, str]:
    """The scratch runs to compare transfer run ``t`` with, and a phrase saying which."""
    same_size = scratch[scratch["params"] == t.get("params")] if t.get("params") else scratch[:0]
    same_data = same_size[same_size["labelled"] == t.get("labelled")]
    if t.get("labelled") is not None and not same_data.empty:
        return same_data, "same model size and labelled data"
    if not same_size.empty:
        return same_size, "same model size"
    return scratch, "median of all scratch runs: none of the same size"


def transfer_comparison(store: Store, project: str, metric: str | None = None) -> dict[str, Any]:
    """Recorded runs of one project side by side, and what transfer saved against scratch.

    Only completed runs count, the newest TRANSFER_RUNS_PER_STRATEGY of each strategy. Each
    transfer run is compared with the scratch runs of the same model size and the same labelled
    data when there are any (the median of them), else of the same model size, else with the
    median of every scratch run shown (its ``basis`` says which). Returns {"runs": DataFrame
    (label, id, name, strategy, cost_usd, duration_h, energy_kwh, labelled, metric, params),
    "savings": DataFrame (label, budget, scratch, transfer, saving_pct, basis), "roi":
    DataFrame (label, savings_usd, roi, basis), "notes": [str], "verdict": str, "metric":
    str|None, "metrics": [str], "excluded": int, "scratch_runs": int, "older": int}.
    """
    df = runs_frame(store, project=project, with_costs=False)
    compared = df[df["strategy"].isin(("scratch", *TRANSFER_STRATEGIES))]
    done = compared[compared["status"] == "completed"]
    excluded = len(compared) - len(done)
    shown = done.groupby("strategy", sort=False).head(TRANSFER_RUNS_PER_STRATEGY)  # newest first
    older = len(done) - len(shown)
    records = _with_costs(shown.to_dict("records"))
    metrics = _metric_keys(records)
    metric = metric if metric in metrics else (metrics[0] if metrics else None)
    rows = []
    for r in records:
        m = r.get("metrics") or {}
        energy = r.get("energy_kwh")
        if energy is None or (isinstance(energy, float) and math.isnan(energy)):
            energy = None if r.get("energy_j") is None else r["energy_j"] / 3.6e6
        labelled = m.get("labelled_samples", r.get("samples"))
        rows.append(
            {
                "label": f"{r['strategy']}: {r.get('name') or str(r['id'])[:8]}",
                "id": r["id"],
                "name": r.get("name") or "",
                "strategy": r["strategy"],
                "cost_usd": _round(r.get("cost_usd"), 6),
                "duration_h": _round(
                    None if r.get("duration_s") is None else r["duration_s"] / 3600, 6
                ),
                "energy_kwh": _round(energy, 6),
                "labelled": _round(labelled, 0),
                "metric": _round(m.get(metric), 6) if metric else None,
                "params": r.get("params_total"),
            }
        )
    runs_df = pd.DataFrame(
        rows,
        columns=["label", "id", "name", "strategy", "cost_usd", "duration_h", "energy_kwh",
                 "labelled", "metric", "params"],
    )  # fmt: skip
    scratch = runs_df[runs_df["strategy"] == "scratch"]
    transfer = runs_df[runs_df["strategy"] != "scratch"]
    notes: list[str] = []
    savings, roi = [], []
    if scratch.empty or transfer.empty:
        notes.append(
            "A comparison needs at least one completed scratch run and one completed transfer "
            "run in this project."
        )
    n_saved = n_priced = 0
    for t in transfer.to_dict("records"):
        peers, basis = matched_scratch(scratch, t)
        base = {key: pd.to_numeric(peers[key], errors="coerce").median() for _, key in BUDGETS}
        base_metric = pd.to_numeric(peers["metric"], errors="coerce").median()
        for budget, key in BUDGETS:
            b, v = base[key], t[key]
            if v is None or b is None or pd.isna(b) or pd.isna(v) or b <= 0:
                continue
            pct = 100.0 * (b - v) / b
            savings.append(
                {"label": t["label"], "budget": budget, "scratch": b, "transfer": v,
                 "saving_pct": pct, "basis": basis}
            )  # fmt: skip
            if pct < 0:
                notes.append(
                    f"{t['label']} did not save on {budget}: it used {-pct:.0f}% more than "
                    f"training from scratch ({basis})."
                )
        if t["cost_usd"] is not None and not pd.isna(base["cost_usd"]) and t["cost_usd"] > 0:
            saved = base["cost_usd"] - t["cost_usd"]
            n_priced += 1
            n_saved += saved > 0
            roi.append(
                {"label": t["label"], "savings_usd": saved, "roi": saved / t["cost_usd"],
                 "basis": basis}
            )  # fmt: skip
        if metric and t["metric"] is not None and not pd.isna(base_metric):
            notes.append(
                f"{t['label']}: final {metric} {t['metric']:.4g} against {base_metric:.4g} "
                f"from scratch ({basis})."
            )
    verdict = (
        f"Measured on this project's runs: transfer cost less than training from scratch in "
        f"{n_saved} of {n_priced} priced comparisons."
        if n_priced
        else ""
    )
    if not transfer.empty and runs_df["cost_usd"].isna().all():
        notes.append("Costs need costlens.cost (prices); cost savings and ROI are not shown.")
    return {
        "runs": runs_df,
        "savings": pd.DataFrame(
            savings, columns=["label", "budget", "scratch", "transfer", "saving_pct", "basis"]
        ),
        "roi": pd.DataFrame(roi, columns=["label", "savings_usd", "roi", "basis"]),
        "notes": notes,
        "verdict": verdict,
        "metric": metric,
        "metrics": metrics,
        "excluded": excluded,
        "scratch_runs": len(scratch),
        "older": older,
    }
