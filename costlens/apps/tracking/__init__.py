"""What a run reports while it runs and after: its price, the live cost, MLflow and W&B.

The profiler (hot path) never reaches pricing code; this package, above both, hands it the
pieces as a :class:`~costlens.record.monitor.RunExtensions`: ``rate`` (the instance's hourly
rate, resolved once, :mod:`~costlens.apps.tracking.rate`), ``on_progress`` (cost so far to an active
MLflow or W&B run) and ``on_end`` (the finished run's cost breakdown to them). ``costlens.profile``
and ``costlens run`` use :func:`run_extensions`. :mod:`~costlens.apps.tracking.backfill` sends past
runs."""

from __future__ import annotations

import functools
from typing import Any

from costlens.apps.tracking.figures import final_figures, progress_figures
from costlens.apps.tracking.rate import hourly_rate
from costlens.apps.tracking.trackers import active_trackers, report
from costlens.record.api import profile as _profile
from costlens.record.live import HourlyRate, LiveFigures
from costlens.record.monitor import RunExtensions

__all__ = ["profile", "report_end", "report_progress", "run_extensions"]


def report_progress(run_id: str, fig: LiveFigures, rate: HourlyRate | None) -> list[str]:
    """Cost so far (and projected) to the active trackers, at the run's step (live thread)."""
    metrics = progress_figures(fig, rate)
    return report(metrics, step=fig.steps, any_thread=True) if metrics else []


def report_end(run_id: str, db: str | None) -> list[str]:
    """The finished run's figures (read back from the store, priced by :mod:`costlens.price`) to
    the trackers active on this thread; nothing is opened when none is active."""
    if not active_trackers(any_thread=True):
        return []
    from costlens.price import cost_breakdown
    from costlens.price.tables import PriceTable
    from costlens.store.db import OpenMode, open_store

    with open_store(db, OpenMode.WRITE) as store:
        breakdown = cost_breakdown(store, run_id, prices=PriceTable.load())
    metrics, facts = final_figures(breakdown, run_id)
    return report(metrics, facts, any_thread=True)


def run_extensions() -> RunExtensions:
    """The price and the trackers for a profiled run."""
    return RunExtensions(rate=hourly_rate, on_progress=report_progress, on_end=report_end)


@functools.wraps(_profile)
def profile(func: Any = None, /, **kwargs: Any) -> Any:
    if kwargs.get("extensions") is None:
        kwargs["extensions"] = run_extensions()
    return _profile(func, **kwargs) if func is not None else _profile(**kwargs)
