"""Reads that pricing a run needs: per-run telemetry aggregates, computed in SQL.

No sample is loaded into Python: one plain row per device of a run comes back, in one pass.
:func:`costlens.price.sample_summary` turns them into a run's idle fraction and energy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import bindparam, text

from costlens.store.db import Store

ID_CHUNK = 5000  # run ids per statement (SQLite allows 32,766 bound parameters, PostgreSQL 65,535)

# One pass over a run's samples (an index-only scan of the covering index of revision 0003):
# per (run, node, device) utilisation counts, power, time span and energy counter. Host readings
# (device_index -1) form their own group, so a run with host samples only still has a row.
_DEVICE_SQL = text(
    """
SELECT run_id, node_rank, device_index,
       COUNT(gpu_util_pct) AS n_util_readings,
       SUM(CASE WHEN gpu_util_pct < :threshold_pct THEN 1 ELSE 0 END) AS n_idle_readings,
       SUM(gpu_util_pct) AS gpu_util_sum_pct,
       AVG(power_w) AS power_mean_w,
       COUNT(power_w) AS n_power_readings,
       MIN(t_unix_s) AS t_first_unix_s,
       MAX(t_unix_s) AS t_last_unix_s,
       MAX(energy_mj) - MIN(energy_mj) AS energy_counter_delta_mj,
       COUNT(energy_mj) AS n_energy_readings
FROM samples
WHERE run_id IN :run_ids
GROUP BY run_id, node_rank, device_index
"""
).bindparams(bindparam("run_ids", expanding=True))


# The same utilisation figures per run only (no power pass): for pricing many runs at once.
_UTIL_SQL = text(
    """
SELECT run_id,
       COUNT(CASE WHEN device_index >= 0 THEN gpu_util_pct END) AS n_util_readings,
       SUM(CASE WHEN device_index >= 0 AND gpu_util_pct < :threshold_pct THEN 1 ELSE 0 END)
           AS n_idle_readings,
       SUM(CASE WHEN device_index >= 0 THEN gpu_util_pct END) AS gpu_util_sum_pct
FROM samples
WHERE run_id IN :run_ids
GROUP BY run_id
"""
).bindparams(bindparam("run_ids", expanding=True))

# The host's readings of a run (device_index -1: the training's process tree): CPU % and memory.
_HOST_SQL = text(
    """
SELECT run_id,
       COUNT(host_cpu_pct) AS n_host_readings,
       AVG(host_cpu_pct) AS host_cpu_mean_pct,
       MAX(host_cpu_pct) AS host_cpu_max_pct,
       MAX(host_ram_bytes) AS host_ram_peak_bytes
FROM samples
WHERE run_id IN :run_ids AND device_index = -1
GROUP BY run_id
"""
).bindparams(bindparam("run_ids", expanding=True))


def _chunks(run_ids: Sequence[str]) -> list[list[str]]:
    ids = [r for r in dict.fromkeys(run_ids) if r]
    return [ids[i : i + ID_CHUNK] for i in range(0, len(ids), ID_CHUNK)]


def _rows(store: Store, sql: Any, run_ids: Sequence[str], **params: Any) -> Iterator[dict]:
    chunks = _chunks(run_ids)
    if not chunks:
        return
    with store.engine.connect() as conn:
        for chunk in chunks:
            for row in conn.execute(sql, {"run_ids": chunk, **params}):
                yield dict(row._mapping)


def telemetry_by_device(
    store: Store, run_ids: Sequence[str], *, idle_threshold_pct: float
) -> list[dict[str, Any]]:
    """One row per (run, node, device) with samples, in one pass: ``run_id``, ``node_rank``,
    ``device_index`` (-1: the host's readings), ``n_util_readings`` (readings with a GPU
    utilisation), ``n_idle_readings`` (those under ``idle_threshold_pct``, a bound parameter),
    ``gpu_util_sum_pct``, ``power_mean_w``, ``n_power_readings``, ``t_first_unix_s``,
    ``t_last_unix_s``, ``energy_counter_delta_mj`` (increase of the NVML counter) and
    ``n_energy_readings``."""
    return list(_rows(store, _DEVICE_SQL, run_ids, threshold_pct=idle_threshold_pct))


def utilisation_by_run(
    store: Store, run_ids: Sequence[str], *, idle_threshold_pct: float
) -> list[dict[str, Any]]:
    """One row per run with samples: ``run_id`` and the utilisation columns of
    :func:`telemetry_by_device` summed over the run's GPUs (host readings ignored)."""
    return list(_rows(store, _UTIL_SQL, run_ids, threshold_pct=idle_threshold_pct))


def host_by_run(store: Store, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """One row per run with host readings: ``run_id``, ``n_host_readings``,
    ``host_cpu_mean_pct`` / ``host_cpu_max_pct`` (process tree, 100 = one logical CPU busy) and
    ``host_ram_peak_bytes`` (resident memory of the process tree)."""
    return list(_rows(store, _HOST_SQL, run_ids))
