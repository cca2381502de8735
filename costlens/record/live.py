"""The cost of a run so far, while it runs: figures, the one-line display and the two guards.

Pure functions and small state machines, no threads and no prices of their own: the hourly rate
of the run's instance is handed in (an :class:`HourlyRate`, resolved once at run start by the
pricing layer, see :mod:`costlens.live`), so the hot path never reaches the catalog. The thread
that calls these is :mod:`costlens.record.monitor`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from costlens.core.fmt import money as usd
from costlens.core.units import S_PER_H
from costlens.core.vocab import DEFAULT_IDLE_THRESHOLD_PCT

WARN_AT_FRACTION = 0.8  # the spend and idle guards warn at 80% of their limit
RATE_WINDOW_S = 30.0  # steps/s over the last half minute (start-up excluded once it has passed)


@dataclass(frozen=True)
class HourlyRate:
    """What the run's instance costs: ``usd_per_hour`` for all its billed instances, a short
    ``label`` (provider/instance, region, on-demand or spot) and ``basis`` (why this price)."""

    usd_per_hour: float
    label: str = ""
    basis: str = ""


@dataclass(frozen=True)
class LiveFigures:
    """The run so far. ``cost_usd``: billed so far at the run's hourly rate (None without a
    price); ``projected_usd``: at the end of ``expected_steps`` at the recent step rate (None
    while unknown); ``gpu_util_pct``: mean of the latest reading of every sampled GPU."""

    elapsed_s: float
    steps: int
    steps_per_s: float | None
    gpu_util_pct: float | None
    cost_usd: float | None
    projected_usd: float | None
    expected_steps: int | None


class StepRate:
    """Steps per second over the last ``window_s`` seconds (overall rate until then)."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._points: deque[tuple[float, int]] = deque()

    def update(self, elapsed_s: float, steps: int) -> float | None:
        self._points.append((elapsed_s, steps))
        while len(self._points) > 2 and elapsed_s - self._points[1][0] >= self.window_s:
            self._points.popleft()
        t0, s0 = self._points[0]
        if len(self._points) == 1 or elapsed_s - t0 < self.window_s:
            t0, s0 = 0.0, 0  # not a full window yet: the rate since the start
        dt = elapsed_s - t0
        return (steps - s0) / dt if dt > 0 and steps > s0 else (0.0 if dt > 0 else None)


def live_figures(
    *,
    elapsed_s: float,
    steps: int,
    steps_per_s: float | None,
    gpu_utils: list[float],
    rate: HourlyRate | None,
    expected_steps: int | None,
) -> LiveFigures:
    """The figures of the run so far (see :class:`LiveFigures`)."""
    usd_per_s = rate.usd_per_hour / S_PER_H if rate is not None else None
    cost = usd_per_s * elapsed_s if usd_per_s is not None else None
    projected = None
    if cost is not None and expected_steps and steps_per_s:
        left = max(expected_steps - steps, 0)
        projected = cost + left / steps_per_s * usd_per_s  # type: ignore[operator]
    util = sum(gpu_utils) / len(gpu_utils) if gpu_utils else None
    return LiveFigures(elapsed_s, steps, steps_per_s, util, cost, projected, expected_steps)


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def format_line(fig: LiveFigures, rate: HourlyRate | None) -> str:
    """One line: ``costlens 0:01:23 | 1,200 steps | 14.2 steps/s | GPU 87% | $0.0123 so far
    (aws/p4d.24xlarge) | ~$1.20 at 10,000 steps``."""
    parts = [f"costlens {_clock(fig.elapsed_s)}", f"{fig.steps:,} steps"]
    if fig.steps_per_s is not None:
        parts.append(f"{fig.steps_per_s:.3g} steps/s")
    if fig.gpu_util_pct is not None:
        parts.append(f"GPU {fig.gpu_util_pct:.0f}%")
    if fig.cost_usd is not None and rate is not None:
        where = f" ({rate.label})" if rate.label else ""
        parts.append(f"{usd(fig.cost_usd)} so far{where}")
    else:
        parts.append("$ unknown (no price for this hardware)")
    if fig.projected_usd is not None and fig.expected_steps:
        parts.append(f"~{usd(fig.projected_usd)} at {fig.expected_steps:,} steps")
    return " | ".join(parts)


@dataclass(frozen=True)
class GuardEvent:
    """What a guard says: ``action`` is "warn" or "stop"; ``message`` is one line for people;
    ``reason`` (on "stop") is what the run's ``stop_reason`` records."""

    action: str
    message: str
    reason: str = ""


class SpendGuard:
    """``max_usd``: a warning once the run has cost 80% of it, a stop at 100%."""

    def __init__(self, max_usd: float) -> None:
        self.max_usd = float(max_usd)
        self._warned = False

    def check(self, fig: LiveFigures) -> GuardEvent | None:
        cost = fig.cost_usd
        if cost is None:
            return None
        if cost >= self.max_usd:
            reason = f"max_usd: {usd(cost)} reached the limit of {usd(self.max_usd)}"
            return GuardEvent("stop", f"costlens: {reason}; stopping the training.", reason)
        if not self._warned and cost >= WARN_AT_FRACTION * self.max_usd:
            self._warned = True
            return GuardEvent(
                "warn",
                f"costlens: warning: {usd(cost)} spent, {cost / self.max_usd:.0%} of --max-usd "
                f"{usd(self.max_usd)}; the training is stopped at 100%.",
            )
        return None


class IdleGuard:
    """``minutes``: every sampled GPU below ``threshold_pct`` that long -> a warning at 80% of it,
    then a stop. A busy reading (or no reading) starts the count again."""

    def __init__(self, minutes: float, threshold_pct: float = DEFAULT_IDLE_THRESHOLD_PCT) -> None:
        self.limit_s = float(minutes) * 60.0
        self.threshold_pct = threshold_pct
        self._idle_since: float | None = None
        self._warned = False

    def check(self, elapsed_s: float, gpu_utils: list[float]) -> GuardEvent | None:
        if not gpu_utils or any(u >= self.threshold_pct for u in gpu_utils):
            self._idle_since, self._warned = None, False
            return None
        if self._idle_since is None:
            self._idle_since = elapsed_s
        idle_s = elapsed_s - self._idle_since
        minutes = f"{idle_s / 60:.1f} min"
        if idle_s >= self.limit_s:
            reason = (
                f"stop_when_idle: every GPU below {self.threshold_pct:g}% utilisation for "
                f"{minutes} (limit {self.limit_s / 60:g} min)"
            )
            return GuardEvent("stop", f"costlens: {reason}; stopping the training.", reason)
        if not self._warned and idle_s >= WARN_AT_FRACTION * self.limit_s:
            self._warned = True
            return GuardEvent(
                "warn",
                f"costlens: warning: every GPU idle (below {self.threshold_pct:g}%) for "
                f"{minutes}; the training is stopped at {self.limit_s / 60:g} min.",
            )
        return None
