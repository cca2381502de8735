"""The overview's figures: spend, GPU-hours, energy, utilisation, MFU and idle waste of the runs
started in a period; spend per day and project; the costliest runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from costlens.core.errors import UsageError
from costlens.core.units import J_PER_KWH, S_PER_H, finite_or_none
from costlens.core.vocab import DEFAULT_IDLE_THRESHOLD_PCT
from costlens.price import sample_summary
from costlens.price.energy import host_figures
from costlens.price.tables import PriceTable
from costlens.store.aggregates import host_by_run
from costlens.store.db import Store
from costlens.store.queries import utcnow
from dashboard.views.runs import runs_frame

PERIODS: dict[str, int | None] = {"7 days": 7, "30 days": 30, "90 days": 90, "All time": None}
DEFAULT_PERIOD = "30 days"
SPEND_COLUMNS = ["day", "project", "cost_usd"]


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


def _sum_or_none(values: pd.Series) -> float | None:
    return float(values.sum()) if len(values) and values.notna().any() else None


def sample_summaries(store: Store, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per-run GPU utilisation aggregates (``costlens.price.sample_summary`` without its power
    pass: the overview needs utilisation only)."""
    return sample_summary(store, run_ids, power=False) if run_ids else {}


def idle_waste_usd(runs: pd.DataFrame, summary: dict[str, dict[str, Any]]) -> float | None:
    """Dollars paid while GPUs sat idle: each priced run's cost times its idle fraction of GPU
    readings (costlens.price's definition). None when no priced run has GPU readings."""
    total, any_run = 0.0, False
    for rid, cost_usd in zip(runs["id"], runs["cost_usd"], strict=True):
        frac = (summary.get(rid) or {}).get("idle_fraction")
        if frac is None or cost_usd is None or pd.isna(cost_usd):
            continue
        total += float(cost_usd) * float(frac)
        any_run = True
    return total if any_run else None


def _spend(df: pd.DataFrame) -> pd.DataFrame:
    spend = df.dropna(subset=["cost_usd"])
    if not len(spend):
        return pd.DataFrame(columns=SPEND_COLUMNS)
    spend = (
        spend.assign(day=spend["started"].dt.floor("D"))
        .groupby(["day", "project"], as_index=False)["cost_usd"]
        .sum()
    )
    return pd.DataFrame(spend, columns=SPEND_COLUMNS)


def host_totals(store: Store, runs: pd.DataFrame) -> dict[str, Any]:
    """What the host readings say about the period's runs: wall-clock run-hours, the CPU-hours
    their process trees used (100% = one logical CPU for an hour), the peak resident memory of
    any of them, and the host CPU energy recorded (RAPL or estimate) with its bases."""
    if not len(runs):
        return {"run_hours": None, "process_cpu_hours": None, "host_ram_peak_bytes": None,
                "cpu_energy_kwh": None, "cpu_energy_bases": []}  # fmt: skip
    seconds = pd.to_numeric(runs["duration_s"], errors="coerce")
    by_id = dict(zip(runs["id"], seconds, strict=True))
    cpu_h, peak = 0.0, None
    hosts = host_by_run(store, list(runs["id"]))
    for h in hosts:
        mean, dur = finite_or_none(h["host_cpu_mean_pct"]), finite_or_none(by_id.get(h["run_id"]))
        cpu_h += host_figures({"host_cpu_mean_pct": mean}, dur)["process_cpu_hours"] or 0.0
        ram = finite_or_none(h["host_ram_peak_bytes"])
        peak = ram if ram is not None and (peak is None or ram > peak) else peak
    cpu_j = pd.to_numeric(runs["cpu_energy_j"], errors="coerce")
    bases = sorted({str(b) for b in runs["cpu_energy_basis"].dropna()})
    return {
        "run_hours": _sum_or_none(seconds / S_PER_H),
        "process_cpu_hours": cpu_h if hosts else None,
        "host_ram_peak_bytes": peak,
        "cpu_energy_kwh": _sum_or_none(cpu_j / J_PER_KWH),
        "cpu_energy_bases": bases,
    }


def overview(
    store: Store, prices: PriceTable, period: str = DEFAULT_PERIOD, now: datetime | None = None
) -> dict[str, Any]:
    """The overview's figures for runs started in ``period``.

    Keys: ``runs`` (count), ``cost_usd``, ``gpu_hours``, ``energy_kwh``, ``gpu_util_mean_pct``
    (mean GPU utilisation over every GPU reading, weighted by readings), ``mfu_mean``
    (GPU-hour weighted), ``idle_waste_usd``, ``idle_threshold_pct``, ``spend`` (DataFrame: day,
    project, cost_usd), ``costliest`` (DataFrame of the ten costliest runs), ``priced``
    (whether any run could be priced), ``cpu_only`` (no run used a GPU) and the keys of
    :func:`host_totals`.
    """
    df = runs_frame(store, prices, since=period_start(period, now))
    priced = bool(df["cost_usd"].notna().any()) if len(df) else False
    energy = df["energy_kwh"]
    if len(df) and not energy.notna().any():
        energy = pd.to_numeric(df["energy_j"], errors="coerce") / J_PER_KWH
    summary = sample_summaries(store, list(df["id"]))
    n_util = sum(v["n_util_readings"] for v in summary.values())
    util = sum(v["gpu_util_mean_pct"] * v["n_util_readings"] for v in summary.values()
               if v["n_util_readings"])  # fmt: skip
    gpu_hours = _sum_or_none(df["gpu_hours"]) if len(df) else None
    return {
        **host_totals(store, df),
        "cpu_only": bool(len(df)) and not gpu_hours and not n_util,
        "period": period,
        "runs": len(df),
        "priced": priced,
        "cost_usd": float(df["cost_usd"].sum()) if priced else None,
        "gpu_hours": gpu_hours,
        "energy_kwh": _sum_or_none(energy),
        "mfu_mean": _weighted_mean(df["mfu"], df["gpu_hours"]) if len(df) else None,
        "gpu_util_mean_pct": util / n_util if n_util else None,
        "idle_threshold_pct": DEFAULT_IDLE_THRESHOLD_PCT,
        "idle_waste_usd": idle_waste_usd(df, summary) if priced else None,
        "spend": _spend(df) if len(df) else pd.DataFrame(columns=SPEND_COLUMNS),
        "costliest": df.dropna(subset=["cost_usd"]).nlargest(10, "cost_usd")
        if priced
        else df.head(0),
    }
