"""A run's telemetry over time, in SQL: :func:`sample_timeline` buckets every reading of a
short run; a long run is read in windows (one index range seek per time bucket, so the cost does
not grow with the run's length); :func:`sample_stats` sums runs up per run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, text

from costlens.store.db import Store

if TYPE_CHECKING:
    import pandas

# Above this many readings a run's timeline reads windows at the start of each time bucket
# instead of every reading.
WINDOWED_ABOVE = 100_000
READINGS_PER_WINDOW = 64

_WINDOWS_SQL = """
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


def timeline_windows(
    store: Store, run_id: str, *, max_points: int = 600
) -> pandas.DataFrame | None:
    """A long run's timeline from windows at the start of ``max_points`` time buckets, each
    holding about READINGS_PER_WINDOW readings, averaged per device in SQL. None for a run with
    at most about WINDOWED_ABOVE readings (estimated from its first thousandth). Same columns as
    ``sample_timeline`` (``n``: readings averaged, not all in the bucket)."""
    import pandas as pd

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
        return pd.read_sql_query(text(_WINDOWS_SQL), conn, params=params)


def sample_timeline(store: Store, run_id: str, *, max_points: int = 600) -> pandas.DataFrame:
    """A run's telemetry per device, averaged into at most ``max_points`` time buckets (in SQL).

    Columns: device_index, t_unix_s (bucket mean), gpu_util_pct, mem_used_bytes, mem_total_bytes,
    power_w, host_cpu_pct, host_ram_bytes, n (readings in the bucket).
    """
    import pandas as pd

    with store.engine.connect() as conn:
        lo, hi = conn.execute(
            text("SELECT MIN(t_unix_s), MAX(t_unix_s) FROM samples WHERE run_id = :r"),
            {"r": run_id},
        ).one()
        if lo is None:
            return pd.DataFrame(
                columns=[
                    "device_index",
                    "t_unix_s",
                    "gpu_util_pct",
                    "mem_used_bytes",
                    "mem_total_bytes",
                    "power_w",
                    "host_cpu_pct",
                    "host_ram_bytes",
                    "n",
                ]
            )
        # Slightly wider buckets so the last reading falls in bucket max_points - 1, not its own.
        width = max((hi - lo) / max(max_points, 1) * (1 + 1e-9), 1e-9)
        # Bucket number: truncation (SQLite's CAST truncates; PostgreSQL's rounds, so FLOOR there).
        bucket = "(t_unix_s - :lo) / :w"
        bucket = (
            f"FLOOR({bucket})"
            if conn.dialect.name == "postgresql"
            else f"CAST({bucket} AS INTEGER)"
        )
        sql = text(
            f"""
            SELECT device_index,
                   AVG(t_unix_s) AS t_unix_s,
                   AVG(gpu_util_pct) AS gpu_util_pct,
                   AVG(mem_used_bytes) AS mem_used_bytes,
                   MAX(mem_total_bytes) AS mem_total_bytes,
                   AVG(power_w) AS power_w,
                   AVG(host_cpu_pct) AS host_cpu_pct,
                   AVG(host_ram_bytes) AS host_ram_bytes,
                   COUNT(*) AS n
            FROM samples
            WHERE run_id = :r
            GROUP BY device_index, {bucket}
            ORDER BY device_index, t_unix_s
            """
        )
        return pd.read_sql_query(sql, conn, params={"r": run_id, "lo": lo, "w": width})


def sample_stats(store: Store, run_ids: list[str] | None = None) -> pandas.DataFrame:
    """Per-run telemetry aggregates in SQL: readings, mean GPU utilisation, mean power, span.

    Columns: run_id, n, gpu_devices, gpu_util_mean_pct, power_mean_w, host_cpu_mean_pct,
    t_first_unix_s, t_last_unix_s.
    """
    import pandas as pd

    where = ""
    params: dict[str, Any] = {}
    if run_ids is not None:
        if not run_ids:
            return pd.DataFrame(
                columns=[
                    "run_id",
                    "n",
                    "gpu_devices",
                    "gpu_util_mean_pct",
                    "power_mean_w",
                    "host_cpu_mean_pct",
                    "t_first_unix_s",
                    "t_last_unix_s",
                ]
            )
        where = "WHERE run_id IN :ids"
        params["ids"] = list(run_ids)
    sql = text(
        f"""
        SELECT run_id, COUNT(*) AS n,
               COUNT(DISTINCT CASE WHEN device_index >= 0 THEN device_index END) AS gpu_devices,
               AVG(gpu_util_pct) AS gpu_util_mean_pct,
               AVG(power_w) AS power_mean_w,
               AVG(host_cpu_pct) AS host_cpu_mean_pct,
               MIN(t_unix_s) AS t_first_unix_s,
               MAX(t_unix_s) AS t_last_unix_s
        FROM samples {where}
        GROUP BY run_id
        """
    )
    if run_ids is not None:
        sql = sql.bindparams(bindparam("ids", expanding=True))
    with store.engine.connect() as conn:
        return pd.read_sql_query(sql, conn, params=params)
