"""Reads that pricing a run needs: per-run telemetry aggregates, computed in SQL.

No sample is loaded into Python: each function returns one plain row per run (or per device of a
run). :func:`costlens.cost.sample_summary` turns them into a run's idle fraction and energy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import bindparam, text

from costlens.store.db import Store

ID_CHUNK = 5000  # run ids per statement (SQLite allows 32,766 bound parameters, PostgreSQL 65,535)

_UTIL_SQL = text(
    """
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
).bindparams(bindparam("run_ids", expanding=True))

_POWER_SQL = text(
    """
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


def gpu_utilisation_by_run(
    store: Store, run_ids: Sequence[str], *, idle_threshold_pct: float
) -> list[dict[str, Any]]:
    """One row per run with GPU samples: ``run_id``, ``n_util_readings`` (GPU readings with a
    utilisation), ``n_idle_readings`` (those under ``idle_threshold_pct``, a bound parameter),
    ``gpu_util_mean_pct``. Host-only readings (device_index -1) are ignored."""
    return list(_rows(store, _UTIL_SQL, run_ids, threshold_pct=idle_threshold_pct))


def power_by_device(store: Store, run_ids: Sequence[str]) -> list[dict[str, Any]]:
    """One row per (run, node, GPU): ``run_id``, ``node_rank``, ``device_index``,
    ``power_mean_w``, ``n_power_readings``, ``t_first_unix_s``, ``t_last_unix_s``,
    ``energy_counter_delta_mj`` (increase of the NVML counter) and ``n_energy_readings``."""
    return list(_rows(store, _POWER_SQL, run_ids))
