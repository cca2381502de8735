"""A run's telemetry, summed up for pricing: idle fraction, mean power per device, energy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from costlens.core.units import MJ_PER_J, finite_or_none
from costlens.core.vocab import DEFAULT_IDLE_THRESHOLD_PCT
from costlens.store.aggregates import host_by_run, telemetry_by_device, utilisation_by_run
from costlens.store.db import Store


def _empty(idle_threshold_pct: float) -> dict[str, Any]:
    return {
        "idle_threshold_pct": idle_threshold_pct,
        "n_util_readings": 0,
        "n_idle_readings": 0,
        "idle_fraction": None,
        "gpu_util_mean_pct": None,
        "gpu_devices": 0,
        "power_mean_w_per_device": [],
        "power_span_s": None,
        "energy_counter_j": None,
        "n_host_readings": 0,
        "host_cpu_mean_pct": None,
        "host_cpu_max_pct": None,
        "host_ram_peak_bytes": None,
    }


def sample_summary(
    store: Store,
    run_ids: Sequence[str],
    *,
    idle_threshold_pct: float = DEFAULT_IDLE_THRESHOLD_PCT,
    power: bool = True,
) -> dict[str, dict[str, Any]]:
    """Per-run telemetry aggregates (computed in SQL by :mod:`costlens.store.aggregates`).

    One pass over the run's readings; ``power=False`` reads the utilisation only (per run, not
    per device), for callers that price many runs at once.

    For each run id that has samples: ``n_util_readings`` / ``n_idle_readings`` (GPU readings with
    utilisation, and those under ``idle_threshold_pct``), ``idle_fraction`` (None without GPU
    readings), ``gpu_util_mean_pct``, ``gpu_devices``, ``power_mean_w_per_device`` (list, W),
    ``power_span_s`` (longest per-device sampled span), ``energy_counter_j`` (sum over devices of
    the NVML energy counter's increase; None without counter readings) and ``idle_threshold_pct``.
    With ``power``, also the host's readings: ``n_host_readings``, ``host_cpu_mean_pct``,
    ``host_cpu_max_pct`` (the process tree; 100 = one logical CPU) and ``host_ram_peak_bytes``.
    """
    out: dict[str, dict[str, Any]] = {}
    util_sum: dict[str, float] = {}
    read = telemetry_by_device if power else utilisation_by_run
    for m in read(store, run_ids, idle_threshold_pct=idle_threshold_pct):
        s = out.setdefault(m["run_id"], _empty(idle_threshold_pct))
        if int(m.get("device_index", 0)) < 0:
            continue  # host readings: the run has samples, but no GPU figures from them
        s["n_util_readings"] += int(m["n_util_readings"] or 0)
        s["n_idle_readings"] += int(m["n_idle_readings"] or 0)
        util_sum[m["run_id"]] = util_sum.get(m["run_id"], 0.0) + float(m["gpu_util_sum_pct"] or 0)
        if power:
            _add_device_power(s, m)
    for run_id, s in out.items():
        n_util = s["n_util_readings"]
        s["idle_fraction"] = (s["n_idle_readings"] / n_util) if n_util else None
        s["gpu_util_mean_pct"] = finite_or_none(util_sum[run_id] / n_util) if n_util else None
    if power:
        for h in host_by_run(store, list(out)):
            s = out[h["run_id"]]
            s["n_host_readings"] = int(h["n_host_readings"] or 0)
            s["host_cpu_mean_pct"] = finite_or_none(h["host_cpu_mean_pct"])
            s["host_cpu_max_pct"] = finite_or_none(h["host_cpu_max_pct"])
            peak = finite_or_none(h["host_ram_peak_bytes"])
            s["host_ram_peak_bytes"] = None if peak is None else int(peak)
    return out


def _add_device_power(s: dict[str, Any], m: dict[str, Any]) -> None:
    """One GPU's power, span and energy counter into its run's summary ``s``."""
    s["gpu_devices"] += 1
    if int(m["n_power_readings"] or 0) > 0 and m["power_mean_w"] is not None:
        s["power_mean_w_per_device"].append(float(m["power_mean_w"]))
    span = float(m["t_last_unix_s"]) - float(m["t_first_unix_s"])
    s["power_span_s"] = max(span, s["power_span_s"] or 0.0)
    delta = m["energy_counter_delta_mj"]
    if int(m["n_energy_readings"] or 0) >= 2 and delta is not None and delta > 0:
        s["energy_counter_j"] = (s["energy_counter_j"] or 0.0) + float(delta) / MJ_PER_J
