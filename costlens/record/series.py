"""Metric series on the hot path: every point ``run.log`` is given, with its step and time, kept
in a bounded size.

The training thread only appends a tuple to a deque (:meth:`SeriesBuffer.add`: no lock, nothing
to wait for). The recorder thread drains it at each flush (:meth:`SeriesBuffer.drain`) into the
kept points of each metric name and returns what changed as *ops* (points to put, points to
drop: :mod:`costlens.store.series`), which go through the journal and the store writer like every
other record.

The bound, per run, rank and metric name: at most :data:`POINTS_PER_METRIC` points. Up to it
every point is kept. When the kept points reach it, every other one (in the order logged) is
dropped, and from then on one point in 2, then 4, 8, ... is kept: the series stays evenly thinned
over the whole run. Always kept, whatever the thinning: the first point, the latest, and the
highest and the lowest value so far (the best, whichever way is better). A value logged again at
the same step replaces the earlier one. At most :data:`NAMES_PER_RUN` metric names keep a series
(a warning names the first one left out); at most :data:`PENDING_MAX` points wait between two
flushes (more are dropped, with a warning). Non-numeric values (text, None, NaN) keep no series;
the run's final values (``metrics_json``) keep them as before.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Any

from costlens.core.units import json_ready
from costlens.record.safety import log_once

POINTS_PER_METRIC = 1000
NAMES_PER_RUN = 200
PENDING_MAX = 100_000
NAME_MAX_CHARS = 200  # the store's column


def point_value(value: Any) -> float | None:
    """A logged value as a finite float (tensors and NumPy scalars included), else None."""
    value = json_ready(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass
class _Series:
    """One name's kept points: step -> (index logged, t_unix_s, value); what the store holds."""

    kept: dict[int, tuple[int, float, float]] = field(default_factory=dict)
    written: dict[int, tuple[float, float]] = field(default_factory=dict)
    logged: int = 0
    stride: int = 1

    def add(self, step: int, t_unix_s: float, value: float) -> None:
        self.kept[step] = (self.logged, t_unix_s, value)
        self.logged += 1

    def _protected(self) -> set[int]:
        k = self.kept
        return {
            min(k, key=lambda s: k[s][0]),  # first
            max(k, key=lambda s: k[s][0]),  # latest
            min(k, key=lambda s: k[s][2]),  # lowest
            max(k, key=lambda s: k[s][2]),  # highest
        }

    def thin(self, limit: int) -> None:
        """Drop off-stride points that are not protected; double the stride while over limit."""
        keep = self._protected()
        while True:
            self.kept = {s: p for s, p in self.kept.items() if p[0] % self.stride == 0 or s in keep}
            if len(self.kept) <= limit:
                return
            self.stride *= 2

    def diff(self, name: str) -> tuple[list[list[Any]], list[list[Any]]]:
        """(points to put, keys to drop) since the last diff; the store then holds ``kept``."""
        puts = [
            [name, s, t, v] for s, (_, t, v) in self.kept.items() if self.written.get(s) != (t, v)
        ]
        drops = [[name, s] for s in self.written if s not in self.kept]
        self.written = {s: (t, v) for s, (_, t, v) in self.kept.items()}
        return puts, drops


class SeriesBuffer:
    """The metric points of one rank of one run: appended by training, drained by the recorder."""

    def __init__(self, limit: int = POINTS_PER_METRIC, names: int = NAMES_PER_RUN) -> None:
        self.limit = max(int(limit), 4)
        self.names = names
        self._pending: collections.deque[tuple[str, int, float, float]] = collections.deque()
        self._series: dict[str, _Series] = {}
        self.dropped = 0  # points refused: too many names, too many waiting

    def add(self, name: str, step: int, t_unix_s: float, value: float) -> None:
        """One point (training thread: one append)."""
        if len(self._pending) >= PENDING_MAX:
            self.dropped += 1
            log_once("metric-pending", RuntimeError(f"more than {PENDING_MAX} points per flush"))
            return
        self._pending.append((name, step, t_unix_s, value))

    def drain(self) -> tuple[list[list[Any]], list[list[Any]]]:
        """(puts, drops) for the store since the last drain (recorder thread)."""
        dirty: set[str] = set()
        while self._pending:
            name, step, t, value = self._pending.popleft()
            series = self._series.get(name)
            if series is None:
                if len(self._series) >= self.names:
                    self.dropped += 1
                    log_once("metric-names", RuntimeError(f"{name!r}: over {self.names} names"))
                    continue
                series = self._series[name] = _Series()
            series.add(step, t, value)
            dirty.add(name)
        puts: list[list[Any]] = []
        drops: list[list[Any]] = []
        for name in sorted(dirty):
            series = self._series[name]
            series.thin(self.limit)
            p, d = series.diff(name)
            puts += p
            drops += d
        return puts, drops

    def kept(self, name: str) -> list[tuple[int, float, float]]:
        """(step, t_unix_s, value) of one name's kept points, by step (tests, summaries)."""
        series = self._series.get(name)
        if series is None:
            return []
        return sorted((s, t, v) for s, (_, t, v) in series.kept.items())
