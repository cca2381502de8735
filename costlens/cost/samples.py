"""A run's telemetry, summed up for pricing: idle fraction, mean power per device, energy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from costlens.store.costing import gpu_utilisation_by_run, power_by_device
from costlens.store.db import Store
from costlens.units import MJ_PER_J, finite_or_none
from costlens.vocab import DEFAULT_IDLE_THRESHOLD_PCT


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
    }


def sample_summary(
    store: Store,
    run_ids: Sequence[str],
    *,
    idle_threshold_pct: float = DEFAULT_IDLE_THRESHOLD_PCT,
    power: bool = True,
) -> dict[str, dict[str, Any]]:
    """Per-run telemetry aggregates (computed in SQL by :mod:`costlens.store.costing`).

    ``power=False`` skips the per-device power and energy pass (utilisation keys only), for
    callers that price many runs at once.

    For each run id that has samples: ``n_util_readings`` / ``n_idle_readings`` (GPU readings with
    utilisation, and those under ``idle_threshold_pct``), ``idle_fraction`` (None without GPU
    readings), ``gpu_util_mean_pct``, ``gpu_devices``, ``power_mean_w_per_device`` (list, W),
    ``power_span_s`` (longest per-device sampled span), ``energy_counter_j`` (sum over devices of
    the NVML energy counter's increase; None without counter readings) and ``idle_threshold_pct``.
    """
    out: dict[str, dict[str, Any]] = {}
    for m in gpu_utilisation_by_run(store, run_ids, idle_threshold_pct=idle_threshold_pct):
        n_util = int(m["n_util_readings"] or 0)
        n_idle = int(m["n_idle_readings"] or 0)
        out[m["run_id"]] = {
            **_empty(idle_threshold_pct),
            "n_util_readings": n_util,
            "n_idle_readings": n_idle,
            "idle_fraction": (n_idle / n_util) if n_util else None,
            "gpu_util_mean_pct": finite_or_none(m["gpu_util_mean_pct"]),
        }
    for m in power_by_device(store, run_ids) if power else []:
        s = out.setdefault(m["run_id"], _empty(idle_threshold_pct))
        s["gpu_devices"] += 1
        if int(m["n_power_readings"] or 0) > 0 and m["power_mean_w"] is not None:
            s["power_mean_w_per_device"].append(float(m["power_mean_w"]))
        span = float(m["t_last_unix_s"]) - float(m["t_first_unix_s"])
        s["power_span_s"] = max(span, s["power_span_s"] or 0.0)
        delta = m["energy_counter_delta_mj"]
        if int(m["n_energy_readings"] or 0) >= 2 and delta is not None and delta > 0:
            s["energy_counter_j"] = (s["energy_counter_j"] or 0.0) + float(delta) / MJ_PER_J
    return out
