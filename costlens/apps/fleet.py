"""The fleet exporter: one team store as Prometheus metrics (``costlens exporter``).

Every run in flight (status ``running`` with a fresh heartbeat) with its cost so far, and each
project's spend over standard windows (the last hour, day, week and 30 days). A scrape reads the
store once (:func:`costlens.store.fleet.fleet_runs`, one indexed query) and the result is kept
for ``cache_s`` (the scrape interval), so many scrapers cost the store one query per interval.
Money is the run's hourly rate (:func:`costlens.apps.tracking.rate.hourly_rate`, the live line's
and ``costlens cost``'s rule) times the part of the run inside the window; a run without a
price counts in ``costlens_fleet_unpriced_runs`` instead.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from costlens.apps.tracking.rate import hourly_rate
from costlens.core.units import S_PER_H
from costlens.record.metrics import COUNTER, GAUGE, Metric

#: The standard windows: label -> seconds.
WINDOWS_S = {"1h": 3600.0, "1d": 86400.0, "7d": 7 * 86400.0, "30d": 30 * 86400.0}
DEFAULT_CACHE_S = 15.0  # Prometheus's default scrape interval


def _overlap_h(start: datetime, end: datetime, since: datetime, now: datetime) -> float:
    lo, hi = max(start, since), min(end, now)
    return max((hi - lo).total_seconds(), 0.0) / S_PER_H


class FleetExporter:
    """Metrics of every run in a store. ``store``: an open :class:`~costlens.store.db.Store`;
    ``prices``: a ``PriceTable``. :meth:`metrics` is what a scrape serves."""

    def __init__(self, store: Any, prices: Any, *, cache_s: float = DEFAULT_CACHE_S) -> None:
        self.store = store
        self.prices = prices
        self.cache_s = float(cache_s)
        self.queries = 0  # store reads so far (tests and the benchmark)
        self.last_query_s: float | None = None
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None
        self._rates: dict[tuple, float | None] = {}

    def metrics(self) -> list[Metric]:
        """The metrics, read from the store at most once every ``cache_s`` seconds."""
        with self._lock:
            now_mono = time.monotonic()
            if self._cached is not None and now_mono - self._cached[0] < self.cache_s:
                return self._cached[1]
            out = self._read()
            self._cached = (time.monotonic(), out)
            return out

    def _rate(self, r: dict[str, Any]) -> float | None:
        """The run's USD per hour (memoised by the facts that price it)."""
        facts = {
            "device": r["device_name"],
            "device_count": r["device_count"] or 0,
            "provider": r["provider"],
            "instance_type": r["instance_type"],
            "region": r["region"],
            "host_cpu_count": r["host_cpu_count"],
        }
        key = tuple(facts.values())
        if key not in self._rates:
            rate = hourly_rate(facts, prices=self.prices)
            self._rates[key] = rate.usd_per_hour if rate is not None else None
        return self._rates[key]

    def _read(self) -> list[Metric]:
        from costlens.store.fleet import fleet_runs
        from costlens.store.queries import utcnow

        now = utcnow()
        oldest = now - timedelta(seconds=max(WINDOWS_S.values()))
        t0 = time.perf_counter()
        runs = fleet_runs(self.store, since=oldest, now=now)
        self.queries += 1
        self.last_query_s = time.perf_counter() - t0
        return self._in_flight(runs, now) + self._spend(runs, now) + self._scrape_figures()

    def _in_flight(self, runs: list[dict[str, Any]], now: datetime) -> list[Metric]:
        up, cost, elapsed, age, steps = [], [], [], [], []
        count: dict[str, int] = defaultdict(int)
        for r in runs:
            if r["status"] != "running":
                continue
            labels = {
                "run_id": r["id"],
                "project": r["project"] or "",
                "name": r["name"] or "",
                "strategy": r["strategy"] or "",
                "device": r["device_name"] or "cpu",
                "hostname": r["host"] or "",
            }
            count[labels["project"]] += 1
            seconds = max((now - r["started_at"]).total_seconds(), 0.0)
            up.append((labels, 1.0))
            elapsed.append((labels, seconds))
            age.append((labels, max((now - r["end"]).total_seconds(), 0.0)))
            steps.append((labels, float(r["steps"] or 0)))
            usd_per_h = self._rate(r)
            if usd_per_h is not None:
                cost.append((labels, usd_per_h * seconds / S_PER_H))
        return [
            Metric("costlens_fleet_run_in_flight", "costlens.fleet.run.in_flight", "1", GAUGE,
                   "1 for each run in flight (running, with a fresh heartbeat).", up),
            Metric("costlens_fleet_runs_in_flight", "costlens.fleet.runs", "{run}", GAUGE,
                   "Runs in flight per project.",
                   [({"project": p}, float(n)) for p, n in sorted(count.items())]),
            Metric("costlens_fleet_run_cost_usd", "costlens.fleet.run.cost", "USD", COUNTER,
                   "A run in flight: billed so far at its hourly rate.", cost),
            Metric("costlens_fleet_run_elapsed_seconds", "costlens.fleet.run.duration", "s",
                   GAUGE, "A run in flight: seconds since it started.", elapsed),
            Metric("costlens_fleet_run_heartbeat_age_seconds", "costlens.fleet.run.heartbeat",
                   "s", GAUGE, "A run in flight: seconds since its last heartbeat.", age),
            Metric("costlens_fleet_run_steps", "costlens.fleet.run.steps", "{step}", COUNTER,
                   "A run in flight: steps stored so far.", steps),
        ]  # fmt: skip

    def _spend(self, runs: list[dict[str, Any]], now: datetime) -> list[Metric]:
        spend: dict[tuple[str, str], float] = defaultdict(float)
        unpriced: dict[tuple[str, str], int] = defaultdict(int)
        for r in runs:
            project = r["project"] or ""
            end = now if r["status"] == "running" else r["end"]
            usd_per_h = self._rate(r)
            for window, seconds in WINDOWS_S.items():
                since = now - timedelta(seconds=seconds)
                if end < since:
                    continue
                hours = _overlap_h(r["started_at"], end, since, now)
                if usd_per_h is None:
                    unpriced[(project, window)] += 1
                else:
                    spend[(project, window)] += usd_per_h * hours
        return [
            Metric("costlens_fleet_spend_usd", "costlens.fleet.spend", "USD", GAUGE,
                   "Spend per project over the window (the run time inside it, at each run's "
                   "hourly rate).",
                   [({"project": p, "window": w}, v) for (p, w), v in sorted(spend.items())]),
            Metric("costlens_fleet_unpriced_runs", "costlens.fleet.unpriced", "{run}", GAUGE,
                   "Runs in the window with no price for their hardware (not in the spend).",
                   [({"project": p, "window": w}, float(n))
                    for (p, w), n in sorted(unpriced.items())]),
        ]  # fmt: skip

    def _scrape_figures(self) -> list[Metric]:
        return [
            Metric("costlens_fleet_query_seconds", "costlens.fleet.query.duration", "s", GAUGE,
                   "Seconds the last store read took.", [({}, float(self.last_query_s or 0.0))]),
        ]  # fmt: skip
