"""One run: its record with costs, telemetry timeline (downsampled in SQL), cost breakdown and
what it would have cost on each provider, as figures and text for its page."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pandas as pd

from costlens.apps.transfer import priced_records
from costlens.core.fmt import MISSING, count, duration, flops, money, number, percent
from costlens.core.hours import HOURS_LABEL
from costlens.core.units import BYTES_PER_GIB, J_PER_KWH
from costlens.price import run_cost, sample_summary
from costlens.price.tables import PriceTable
from costlens.store.db import Store
from costlens.store.queries import get_run
from costlens.store.timelines import sample_timeline, timeline_windows
from dashboard.fmt import device_label

if TYPE_CHECKING:
    from costlens.store.models import RunRecord

PROVIDER_COST_COLUMNS = ["provider", "instance_type", "cost_usd", "spot_instance_type",
                       "spot_cost_usd", "as_of"]  # fmt: skip


def run(store: Store, prices: PriceTable, run_id: str) -> dict[str, Any]:
    """One run's public record with its cost columns (RunNotFoundError when unknown)."""
    return priced_records([get_run(store, run_id)], prices)[0]


def page_data(
    store: Store, prices: PriceTable, run_id: str
) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame]:
    """(record, cost detail, timeline) of one run's page. The cost detail reads all the run's
    readings and the timeline a window of them; both spend their time in the database, so they
    run at once, on two connections (a long run's page in about the time of the slower one)."""
    record = run(store, prices, run_id)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="costlens-timeline") as pool:
        timeline = pool.submit(run_timeline, store, record["id"])
        detail = run_cost_detail(store, prices, record)
        return record, detail, timeline.result()


def run_status(store: Store, run_id: str) -> str:
    """A run's effective status now (running, completed, lost, ...)."""
    return get_run(store, run_id)["status"]


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
    tl["mem_used_gib"] = tl["mem_used_bytes"] / BYTES_PER_GIB
    tl["host_ram_gib"] = tl["host_ram_bytes"] / BYTES_PER_GIB
    return tl


def has_gpu_readings(timeline: pd.DataFrame) -> bool:
    """True when a timeline holds readings of at least one GPU."""
    return bool(len(timeline) and (timeline["device_index"] >= 0).any())


def run_cost_detail(store: Store, prices: PriceTable, record: RunRecord) -> dict[str, Any]:
    """costlens.price's full breakdown of one run on ``prices``, with its samples' idle waste and
    energy fallback."""
    summary = sample_summary(store, [record["id"]])
    return run_cost(record, prices=prices, samples=summary.get(record["id"]))


def run_facts(record: RunRecord, detail: dict[str, Any]) -> list[tuple[str, str]]:
    """A run's identity and measured figures as (label, text) pairs for its page."""
    mfu = detail.get("mfu", record.get("mfu"))
    energy_kwh = detail.get("energy_kwh", record.get("energy_kwh"))
    if energy_kwh is None and record.get("energy_j") is not None:
        energy_kwh = record["energy_j"] / J_PER_KWH
    energy = number(energy_kwh, "kWh")
    if record.get("energy_source") and energy != MISSING:
        energy += f" ({record['energy_source']})"
    return [*_identity(record, mfu, detail), ("energy (GPUs)", energy),
            *host_facts(detail), ("command", str(record.get("command") or ""))]  # fmt: skip


def host_facts(detail: dict[str, Any]) -> list[tuple[str, str]]:
    """The host CPU's energy (with its basis), CO2e, and the process tree's CPU and memory."""
    cpu = number(detail.get("cpu_energy_kwh"), "kWh")  # significant digits: a short CPU run
    if cpu != MISSING and detail.get("cpu_energy_basis"):
        cpu += f" ({detail['cpu_energy_basis']})"
    co2e = number(detail.get("co2e_kg"), "kg CO2e")  # is not 0
    if co2e != MISSING:
        where = "world average" if detail.get("carbon_is_default") else detail.get("carbon_region")
        co2e += f" at {detail.get('carbon_g_co2e_per_kwh'):g} g/kWh ({where})"
    ram = detail.get("host_ram_peak_bytes")
    return [
        ("energy (host CPU)", cpu),
        ("CO2e (all energy)", co2e),
        ("process CPU (mean / max)",
         f"{_pct(detail.get('host_cpu_mean_pct'))} / {_pct(detail.get('host_cpu_max_pct'))}"),
        ("process CPU-hours", number(detail.get("process_cpu_hours"), "h")),
        ("process memory (peak)", number(None if ram is None else ram / BYTES_PER_GIB, "GiB")),
    ]  # fmt: skip


def _pct(value_pct: Any) -> str:
    """A percentage given in percent (not a fraction): ``87%``."""
    return percent(None if value_pct is None else value_pct / 100)


def _identity(
    record: RunRecord, mfu: float | None, detail: dict[str, Any]
) -> list[tuple[str, str]]:
    return [
        ("id", str(record["id"])),
        ("name", str(record.get("name") or "")),
        ("project", str(record["project"])),
        ("status", str(record["status"])),
        ("strategy", str(record["strategy"])),
        ("tags", ", ".join(str(t) for t in record.get("tags") or [])),
        ("started (UTC)", str(record.get("started_at") or "-")),
        ("ended (UTC)", str(record.get("ended_at") or "-")),
        ("wall time", duration(record.get("duration_s"))),
        ("hardware", device_label(record)),
        ("precision", str(record.get("precision") or "-")),
        ("steps / samples / tokens",
         f"{count(record['steps'])} / {count(record['samples'])} / {count(record['tokens'])}"),
        ("FLOPs executed", flops(record.get("flops") or None)),
        ("achieved FLOP/s", flops(detail.get("achieved_flops_per_s"))),
        (HOURS_LABEL.get(str(detail.get("device_kind")), "device-hours"),
         number(detail.get("device_hours"))),
        ("MFU (whole run)", percent(mfu, digits=1)),
        ("MFU (steady state)", _steady_text(detail)),
    ]  # fmt: skip


def _steady_text(detail: dict[str, Any]) -> str:
    """Steady-state MFU with its window, or why it is unknown (never a guess)."""
    steady = detail.get("mfu_steady_state")
    if steady is None:
        return f"{MISSING} ({detail.get('steady_state_basis') or 'not measured'})"
    return f"{percent(steady, digits=1)} ({detail['steady_state_basis']})"


def cost_parts(detail: dict[str, Any]) -> list[tuple[str, float]]:
    """The cost breakdown of a run as (label, US$) pairs (empty when it is not priced)."""
    if detail.get("cost_usd") is None:
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


def quote_text(detail: dict[str, Any]) -> list[str]:
    """Which price priced the run and why, the electricity rate, and any notes (text lines)."""
    lines = []
    q = detail.get("quote")
    if q:
        n = detail.get("instances") or 1
        lines.append(
            f"Priced as {n} x {q.get('provider')} {q.get('instance_type')} ({q.get('region')}) "
            f"at {money(q.get('usd_per_hour', 0))}/h{' spot' if q.get('spot') else ''}, "
            f"price table as of {q.get('as_of')}."
        )
        if detail.get("quote_reason"):
            lines.append(f"Why this instance: {detail['quote_reason']}.")
    if detail.get("energy_cost_usd") is not None:
        lines.append(
            f"Electricity: {money(detail['electricity_usd_per_kwh'], sig=3)}/kWh "
            f"({detail.get('electricity_source')}, as of {detail.get('electricity_as_of')}); "
            "cloud prices already include it."
        )
    if detail.get("co2e_kg") is not None:
        lines.append(
            f"Grid carbon: {detail['carbon_g_co2e_per_kwh']:g} gCO2e/kWh for "
            f"{detail.get('carbon_region')} ({detail.get('carbon_source')}, as of "
            f"{detail.get('carbon_as_of')})."
        )
    lines.extend(str(n) for n in detail.get("notes") or [])
    return lines


def provider_alternatives(detail: dict[str, Any]) -> pd.DataFrame:
    """What the run would have cost on each provider's matching instance (columns
    :data:`PROVIDER_COST_COLUMNS`), cheapest first."""
    df = pd.DataFrame(detail.get("alternatives") or [])
    for c in PROVIDER_COST_COLUMNS:
        if c not in df:
            df[c] = None
    df = df[PROVIDER_COST_COLUMNS]
    for c in ("cost_usd", "spot_cost_usd"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df.sort_values("cost_usd", na_position="last").reset_index(drop=True)


def metric_items(record: RunRecord) -> list[tuple[str, str]]:
    """The run's logged metrics as (name, value) text pairs."""
    out = []
    for key, value in (record.get("metrics") or {}).items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        elif not isinstance(value, (str, int)):
            value = json.dumps(value)
        out.append((str(key), str(value)))
    return out


def target_items(store: Store, record: dict[str, Any]) -> list[tuple[str, str]]:
    """The cost to the project's target (``COSTLENS_TARGET``) as one (label, text) pair, or none
    when no target is set: "$0.12 (step 300, 2 min)" or "not reached (best 0.94)"."""
    from costlens.price.target import costs_to_target, project_target, target_text

    target = project_target(None)
    if target is None:
        return []
    tc = costs_to_target(store, [record], target)[record["id"]]
    return [(f"cost to {target}", target_text(tc))]
