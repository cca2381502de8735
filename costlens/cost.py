"""A recorded run -> what it cost, on its own hardware and on every provider's matching instance.

Runs store facts only (times, device names and counts, FLOPs, energy); every figure here is derived
from those facts and the dated tables in ``data/`` (see :mod:`costlens.catalog`), so a new price
table re-prices old runs. Nothing here imports torch.

Conventions (units in names):
- ``gpu_hours`` = duration_s * device_count / 3600 (0 for a CPU-only run, which used no GPU);
  ``instance_hours`` = duration_s * instances rented / 3600, what the dollars are for.
- ``cost_usd`` = whole instances x hours x the instance's $/h: a run on 1 GPU of an 8-GPU instance
  pays for the instance. Which instance was used, and why, is in ``quote`` and ``quote_reason``.
- ``energy_kwh`` comes from the run's energy counter (``energy_j``), else from its samples (NVML
  energy counter delta, else mean sampled power x duration); otherwise it is None, never 0.
- ``mfu`` = achieved FLOP/s / (peak FLOP/s at the run's precision x device_count); None when the
  peak is unknown (CPU runs, accelerators without a sourced peak).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from costlens import catalog
from costlens.errors import CostlensError, PriceNotFoundError, UnknownAcceleratorError

if TYPE_CHECKING:
    import pandas

    from costlens.store.db import Store

DEFAULT_IDLE_THRESHOLD_PCT = 10.0

# Keys add_cost_columns adds to every record (None where unknown).
COST_KEYS: tuple[str, ...] = ("cost_usd", "gpu_hours", "energy_kwh", "mfu")


# --------------------------------------------------------------------------------------------
# Per-run sample summary (SQL aggregate: no sample is loaded into Python)
# --------------------------------------------------------------------------------------------

_ID_CHUNK = 5000  # run ids per statement (SQLite allows 32,766 bound parameters, PostgreSQL 65,535)

_UTIL_SQL = """
SELECT run_id,
       SUM(CASE WHEN device_index >= 0 AND gpu_util_pct IS NOT NULL THEN 1 ELSE 0 END)
           AS n_util_readings,
       SUM(CASE WHEN device_index >= 0 AND gpu_util_pct < :threshold_pct THEN 1 ELSE 0 END)
           AS n_idle_readings,
       AVG(CASE WHEN device_index >= 0 THEN gpu_util_pct END) AS gpu_util_mean_pct
FROM samples
WHERE run_id IN :run_ids
GROUP BY run_id
"""

_POWER_SQL = """
SELECT run_id, node_rank, device_index,
       AVG(power_w) AS power_mean_w,
       COUNT(power_w) AS n_power_readings,
       MIN(t_unix_s) AS t_first_unix_s,
       MAX(t_unix_s) AS t_last_unix_s,
       MAX(energy_mj) - MIN(energy_mj) AS energy_counter_delta_mj,
       COUNT(energy_mj) AS n_energy_readings
FROM samples
WHERE run_id IN :run_ids AND device_index >= 0
GROUP BY run_id, node_rank, device_index
"""


def sample_summary(
    store: Store,
    run_ids: Sequence[str],
    *,
    idle_threshold_pct: float = DEFAULT_IDLE_THRESHOLD_PCT,
    power: bool = True,
) -> dict[str, dict[str, Any]]:
    """Per-run telemetry aggregates computed in SQL (bound parameters, any dialect).

    ``power=False`` skips the per-device power and energy pass (utilisation keys only), for
    callers that price many runs at once. Ids go in chunks that stay under every database's
    bound-parameter limit.

    For each run id that has samples: ``n_util_readings`` / ``n_idle_readings`` (GPU readings with
    utilisation, and those under ``idle_threshold_pct``), ``idle_fraction`` (None without GPU
    readings), ``gpu_util_mean_pct``, ``gpu_devices``, ``power_mean_w_per_device`` (list),
    ``power_span_s`` (longest per-device sampled span), ``energy_counter_j`` (sum over devices of
    the NVML energy counter's increase; None without counter readings) and ``idle_threshold_pct``.
    """
    from sqlalchemy import bindparam, text

    ids = [r for r in dict.fromkeys(run_ids) if r]
    if not ids:
        return {}
    out: dict[str, dict[str, Any]] = {}
    util = text(_UTIL_SQL).bindparams(bindparam("run_ids", expanding=True))
    power_sql = text(_POWER_SQL).bindparams(bindparam("run_ids", expanding=True))
    chunks = [ids[i : i + _ID_CHUNK] for i in range(0, len(ids), _ID_CHUNK)]
    with store.engine.connect() as conn:
        util_rows = (
            row
            for chunk in chunks
            for row in conn.execute(util, {"run_ids": chunk, "threshold_pct": idle_threshold_pct})
        )
        for row in util_rows:
            m = row._mapping
            n_util = int(m["n_util_readings"] or 0)
            n_idle = int(m["n_idle_readings"] or 0)
            out[m["run_id"]] = {
                "idle_threshold_pct": idle_threshold_pct,
                "n_util_readings": n_util,
                "n_idle_readings": n_idle,
                "idle_fraction": (n_idle / n_util) if n_util else None,
                "gpu_util_mean_pct": _f(m["gpu_util_mean_pct"]),
                "gpu_devices": 0,
                "power_mean_w_per_device": [],
                "power_span_s": None,
                "energy_counter_j": None,
            }
        power_rows = (
            row
            for chunk in (chunks if power else [])
            for row in conn.execute(power_sql, {"run_ids": chunk})
        )
        for row in power_rows:
            m = row._mapping
            s = out.setdefault(
                m["run_id"],
                {
                    "idle_threshold_pct": idle_threshold_pct,
                    "n_util_readings": 0,
                    "n_idle_readings": 0,
                    "idle_fraction": None,
                    "gpu_util_mean_pct": None,
                    "gpu_devices": 0,
                    "power_mean_w_per_device": [],
                    "power_span_s": None,
                    "energy_counter_j": None,
                },
            )
            s["gpu_devices"] += 1
            if int(m["n_power_readings"] or 0) > 0 and m["power_mean_w"] is not None:
                s["power_mean_w_per_device"].append(float(m["power_mean_w"]))
            span = _f(m["t_last_unix_s"]) - _f(m["t_first_unix_s"])  # type: ignore[operator]
            s["power_span_s"] = max(span, s["power_span_s"] or 0.0)
            delta = m["energy_counter_delta_mj"]
            if int(m["n_energy_readings"] or 0) >= 2 and delta is not None and delta > 0:
                s["energy_counter_j"] = (s["energy_counter_j"] or 0.0) + float(delta) / 1000.0
    return out


def _f(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


# --------------------------------------------------------------------------------------------
# Pricing one run
# --------------------------------------------------------------------------------------------


def _is_cpu_run(record: dict[str, Any]) -> bool:
    dev = record.get("device")
    return not dev or int(record.get("device_count") or 0) <= 0 or str(dev).upper() == "CPU"


def _duration_s(record: dict[str, Any]) -> float | None:
    d = record.get("duration_s")
    if d is None:
        return None
    d = float(d)
    return d if d >= 0 and math.isfinite(d) else None


def _instances_needed(devices: int, per_instance: int) -> int:
    if per_instance <= 0:
        return 1
    return max(1, math.ceil(max(devices, 1) / per_instance))


# Look-ups against the price table last used: pricing many runs (a dashboard page, `costlens
# runs`) asks the same few questions again and again. Keyed on the table object itself, so a new
# table (load_prices returns a fresh copy) starts a fresh memo.
_memo: tuple[Any, dict[tuple, Any]] = (None, {})


def _memo_for(prices: pandas.DataFrame) -> dict[tuple, Any]:
    global _memo
    table, memo = _memo
    if table is not prices:
        memo = {}
        _memo = (prices, memo)
    return memo


def _quote_for(
    key: str,
    devices: int,
    prices: pandas.DataFrame,
    *,
    provider: str | None,
    instance: str | None,
    spot: bool,
    min_vcpus: int | None,
) -> catalog.PriceQuote:
    memo = _memo_for(prices)
    k = ("quote", key, devices, provider, instance, spot, min_vcpus)
    if k not in memo:
        try:
            memo[k] = catalog.cheapest_instance(
                key,
                max(devices, 1),
                provider=provider,
                spot=spot,
                instance_type=instance,
                prices=prices,
                min_vcpus=min_vcpus,
            )
        except PriceNotFoundError as exc:
            memo[k] = str(exc)
    found = memo[k]
    if isinstance(found, str):
        raise PriceNotFoundError(found)
    return found


def _choose_quote(
    record: dict[str, Any],
    key: str,
    devices: int,
    prices: pandas.DataFrame,
    *,
    provider: str | None,
    instance: str | None,
    spot: bool,
) -> tuple[catalog.PriceQuote, str]:
    """The quote used for the run's own cost, and a sentence saying why it was chosen."""
    min_vcpus = record.get("host_cpu_count") if key == catalog.CPU_KEY else None
    declared_provider = provider or record.get("provider")
    declared_instance = instance or record.get("instance_type")
    asked = "as asked" if (provider or instance) else "as recorded with the run"
    kind = "spot" if spot else "on-demand"
    if declared_instance:
        try:
            q = _quote_for(
                key, devices, prices, provider=declared_provider, instance=declared_instance,
                spot=spot, min_vcpus=min_vcpus,
            )  # fmt: skip
            return q, (
                f"declared instance {q.provider}/{q.instance_type} ({asked}); cheapest listed "
                f"region {q.region}, {kind}"
            )
        except PriceNotFoundError:
            fallback = (
                f"declared instance {declared_instance!r} is not in the price table for {key}"
            )
            if instance:  # the user asked for it explicitly: say so, do not guess
                raise
    else:
        fallback = ""
    if declared_provider:
        try:
            q = _quote_for(
                key, devices, prices, provider=declared_provider, instance=None, spot=spot,
                min_vcpus=min_vcpus,
            )  # fmt: skip
            why = f"cheapest {kind} {key} instance on {q.provider} ({asked})"
            return q, f"{fallback}; {why}" if fallback else why
        except PriceNotFoundError:
            if provider:
                raise
            fallback = (fallback + "; " if fallback else "") + (
                f"no {key} price on {declared_provider}"
            )
    q = _quote_for(
        key, devices, prices, provider=None, instance=None, spot=spot, min_vcpus=min_vcpus
    )
    if key == catalog.CPU_KEY:
        need = f" with at least {min_vcpus} vCPUs" if min_vcpus else ""
        why = f"no instance declared: cheapest {kind} CPU-only instance{need} in the price table"
    else:
        why = (
            f"no instance declared: cheapest {kind} instance per GPU-hour with {key} "
            f"(preferring {max(devices, 1)} GPU(s) per instance) in the price table"
        )
    return q, f"{fallback}; {why}" if fallback else why


def _alternatives(
    key: str,
    devices: int,
    hours: float | None,
    prices: pandas.DataFrame,
    min_vcpus: int | None,
) -> list[dict[str, Any]]:
    """The same run on each provider's matching instance, on-demand and spot."""
    rows = prices[prices["gpu"] == key]
    out: list[dict[str, Any]] = []
    for prov in sorted(rows["provider"].unique()):
        entry: dict[str, Any] = {"provider": str(prov)}
        for spot in (False, True):
            try:
                q = _quote_for(
                    key, devices, prices, provider=prov, instance=None, spot=spot,
                    min_vcpus=min_vcpus,
                )  # fmt: skip
            except PriceNotFoundError:
                q = None
            prefix = "spot_" if spot else ""
            if q is None:
                entry.update({f"{prefix}instance_type": None, f"{prefix}usd_per_hour": None,
                              f"{prefix}cost_usd": None})  # fmt: skip
                continue
            n = 1 if key == catalog.CPU_KEY else _instances_needed(devices, q.gpu_count)
            entry.update(
                {
                    f"{prefix}instance_type": q.instance_type,
                    f"{prefix}region": q.region,
                    f"{prefix}instances": n,
                    f"{prefix}usd_per_hour": q.usd_per_hour,
                    f"{prefix}usd_per_gpu_hour": q.usd_per_gpu_hour,
                    f"{prefix}cost_usd": None if hours is None else n * q.usd_per_hour * hours,
                }
            )
            if not spot:
                entry["gpu_count"] = q.gpu_count
                entry["as_of"] = q.as_of
        out.append(entry)
    out.sort(key=lambda e: (e.get("cost_usd") is None, e.get("cost_usd") or 0.0))
    return out


def _row_note(prices: pandas.DataFrame, quote: catalog.PriceQuote | None) -> str | None:
    """The price row's own caveat (e.g. an UNCONFIRMED flag), if any."""
    if quote is None or "note" not in prices.columns:
        return None
    memo = _memo_for(prices)
    k = ("note", quote.provider, quote.instance_type, quote.region)
    if k not in memo:
        memo[k] = _find_note(prices, quote)
    return memo[k]


def _find_note(prices: pandas.DataFrame, quote: catalog.PriceQuote) -> str | None:
    m = prices[
        (prices["provider"] == quote.provider)
        & (prices["instance_type"] == quote.instance_type)
        & (prices["region"] == quote.region)
    ]
    note = str(m.iloc[0]["note"]) if len(m) else ""
    return note if note and note != "nan" else None


def run_cost(
    record: dict[str, Any],
    *,
    prices: pandas.DataFrame | None = None,
    provider: str | None = None,
    instance: str | None = None,
    spot: bool = False,
    samples: dict[str, Any] | None = None,
    electricity: tuple[float, str, str] | None = None,
    alternatives: bool = True,
) -> dict[str, Any]:
    """The cost breakdown of one public run record (see ``costlens.store.queries.run_record``).

    ``samples`` is the run's entry of :func:`sample_summary` (enables the power-integral energy
    fallback and idle waste). ``provider``/``instance`` override what the run recorded; an
    explicitly asked instance or provider that has no price raises PriceNotFoundError. An unknown
    device never raises: the money figures are None and ``notes`` says why.
    """
    notes: list[str] = []
    prices = catalog.load_prices() if prices is None else prices
    duration_s = _duration_s(record)
    cpu_run = _is_cpu_run(record)
    devices = 0 if cpu_run else int(record.get("device_count") or 0)
    hours = None if duration_s is None else duration_s / 3600.0
    if hours is None:
        notes.append("the run has no duration yet (no end time or heartbeat)")

    key: str | None
    spec: catalog.GpuSpec | None = None
    try:
        key = catalog.CPU_KEY if cpu_run else catalog.resolve_gpu(str(record.get("device")))
        spec = catalog.gpu_spec(key)
    except UnknownAcceleratorError as exc:
        key = None
        notes.append(str(exc))

    gpu_hours = None if hours is None else hours * devices  # 0 for CPU-only runs

    quote: catalog.PriceQuote | None = None
    quote_reason = None
    instances = None
    cost_usd = None
    if key is not None:
        try:
            quote, quote_reason = _choose_quote(
                record, key, devices, prices, provider=provider, instance=instance, spot=spot
            )
        except PriceNotFoundError as exc:
            if provider or instance:
                raise
            notes.append(str(exc))
    if quote is not None:
        instances = 1 if cpu_run else _instances_needed(devices, quote.gpu_count)
        if hours is not None:
            cost_usd = instances * quote.usd_per_hour * hours
    instance_hours = None if hours is None else hours * (instances or 1)

    # Energy: the run's own counter, else the samples' counter, else the power integral.
    energy_j = record.get("energy_j")
    energy_source = record.get("energy_source") if energy_j is not None else None
    if energy_j is None and samples:
        if samples.get("energy_counter_j"):
            energy_j = samples["energy_counter_j"]
            energy_source = "samples: NVML energy counter increase"
        elif samples.get("power_mean_w_per_device"):
            span = duration_s if duration_s is not None else samples.get("power_span_s")
            if span:
                energy_j = sum(samples["power_mean_w_per_device"]) * span
                energy_source = "samples: mean sampled power x duration"
    energy_kwh = None if energy_j is None else float(energy_j) / 3.6e6
    rate, rate_source, rate_as_of = electricity or catalog.electricity_usd_per_kwh()
    energy_cost_usd = None if energy_kwh is None else energy_kwh * rate
    if energy_kwh is None:
        notes.append("no energy measurement for this run (no energy counter or power samples)")

    # Throughput and MFU.
    flops = float(record.get("flops") or 0.0)
    achieved = flops / duration_s if flops > 0 and duration_s else None
    precision = record.get("precision") or "fp32"
    peak_per_device = spec.peak_for(precision) if spec is not None else None
    peak_total = peak_per_device * devices if peak_per_device and devices else None
    mfu = achieved / peak_total if achieved is not None and peak_total else None
    if achieved is not None and peak_total is None and key is not None:
        notes.append(f"no peak FLOP/s for {key} at {precision} in the spec table: MFU unknown")

    # Idle waste.
    idle_fraction = samples.get("idle_fraction") if samples else None
    idle_waste_usd = (
        cost_usd * idle_fraction if cost_usd is not None and idle_fraction is not None else None
    )

    out: dict[str, Any] = {
        "run_id": record.get("id"),
        "device": record.get("device"),
        "device_key": key,
        "device_count": devices,
        "cpu_only": cpu_run,
        "duration_s": duration_s,
        "gpu_hours": gpu_hours,
        "instance_hours": instance_hours,
        "instances": instances,
        "cost_usd": cost_usd,
        "spot": spot,
        "quote": quote.as_dict() if quote else None,
        "quote_reason": quote_reason,
        "quote_note": _row_note(prices, quote),
        "energy_j": None if energy_j is None else float(energy_j),
        "energy_kwh": energy_kwh,
        "energy_source": energy_source,
        "electricity_usd_per_kwh": rate,
        "electricity_source": rate_source,
        "electricity_as_of": rate_as_of,
        "energy_cost_usd": energy_cost_usd,
        "flops": flops,
        "achieved_flops_per_s": achieved,
        "precision": precision,
        "peak_flops_per_s": peak_total,
        "peak_source": spec.source if (spec is not None and peak_total) else None,
        "mfu": mfu,
        "idle_threshold_pct": samples.get("idle_threshold_pct") if samples else None,
        "idle_fraction": idle_fraction,
        "idle_waste_usd": idle_waste_usd,
        "alternatives": (
            _alternatives(key, devices, hours, prices, record.get("host_cpu_count"))
            if alternatives and key is not None
            else []
        ),
        "notes": notes,
    }
    return out


def add_cost_columns(
    records: Iterable[dict[str, Any]], *, prices: pandas.DataFrame | None = None
) -> list[dict[str, Any]]:
    """Each record with ``cost_usd``, ``gpu_hours``, ``energy_kwh`` and ``mfu`` added (None where
    unknown). Never fails because of a run's device or a missing price; a malformed price table
    still raises DataTableError (the user must fix it)."""
    records = list(records)
    if not records:
        return records
    prices = catalog.load_prices() if prices is None else prices
    electricity = catalog.electricity_usd_per_kwh()
    out = []
    for rec in records:
        try:
            c = run_cost(rec, prices=prices, electricity=electricity, alternatives=False)
            extra = {k: c[k] for k in COST_KEYS}
        except CostlensError:
            extra = dict.fromkeys(COST_KEYS)
            if rec.get("duration_s") is not None:
                d = float(rec["duration_s"])
                extra["gpu_hours"] = d / 3600.0 * int(rec.get("device_count") or 0)
        out.append({**rec, **extra})
    return out


def cost_breakdown(
    store: Store,
    run_id: str,
    *,
    provider: str | None = None,
    instance: str | None = None,
    spot: bool = False,
    prices_file: str | None = None,
    idle_threshold_pct: float = DEFAULT_IDLE_THRESHOLD_PCT,
) -> dict[str, Any]:
    """The full cost breakdown of a stored run (id or unique prefix), with its samples' idle
    waste and energy fallback. Used by ``costlens cost`` and the dashboard."""
    from costlens.store.queries import get_run

    record = get_run(store, run_id)
    summary = sample_summary(store, [record["id"]], idle_threshold_pct=idle_threshold_pct)
    prices = catalog.load_prices(prices_file)
    return run_cost(
        record,
        prices=prices,
        provider=provider,
        instance=instance,
        spot=spot,
        samples=summary.get(record["id"]),
    )
