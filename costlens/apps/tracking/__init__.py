"""The one public ``profile`` (``costlens.profile``), and what a run reports while it runs and
after: its price, the live cost, MLflow and W&B.

The profiler (hot path) never reaches pricing code; this package, above both, hands it the
pieces as a :class:`~costlens.record.monitor.RunExtensions`: ``rate`` (the instance's hourly
rate, resolved once, :mod:`~costlens.apps.tracking.rate`), ``on_progress`` (cost so far to an active
MLflow or W&B run) and ``on_end`` (the finished run's cost breakdown to them). ``costlens.profile``
and ``costlens run`` use :func:`run_extensions`. :mod:`~costlens.apps.tracking.backfill` sends past
runs."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from costlens.apps.tracking.figures import final_figures, progress_figures
from costlens.apps.tracking.rate import hourly_rate, peak_of
from costlens.apps.tracking.trackers import active_trackers, report
from costlens.record.api import start_profile
from costlens.record.live import HourlyRate, LiveFigures
from costlens.record.monitor import RunExtensions
from costlens.record.options import OPTIONS, options_doc, run_options

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
    return RunExtensions(
        rate=hourly_rate, on_progress=report_progress, on_end=report_end, peak=peak_of
    )


def profile(
    func: Callable[..., Any] | None = None,
    /,
    *,
    extensions: RunExtensions | None = None,
    **options: Any,
) -> Any:
    """Record a training run: ``@profile``, ``@profile(...)`` or ``with profile(...) as run``
    (each use a new run). It is priced while it runs (the live cost line, ``max_usd``) and, when
    an MLflow or W&B run is active, reports its cost to it.

    A bad option or ``COSTLENS_*`` variable is refused here, before training starts (an
    :class:`~costlens.core.errors.InputError`, a ``ValueError``; an unknown keyword a
    ``TypeError``). An unknown ``strategy`` is warned of and recorded as "other".
    ``extensions``: the price and the trackers (default: :func:`run_extensions`;
    ``RunExtensions()`` for a run without them).
    """
    checked = run_options(
        options, extensions=run_extensions() if extensions is None else extensions
    )
    return start_profile(func, checked)


profile.__doc__ = f"{inspect.cleandoc(profile.__doc__ or '')}\n\n{options_doc()}"
profile.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter("func", inspect.Parameter.POSITIONAL_ONLY, default=None),
        *(
            inspect.Parameter(o.key, inspect.Parameter.KEYWORD_ONLY, default=o.default,
                              annotation=o.type)
            for o in OPTIONS.values()
        ),
        inspect.Parameter("extensions", inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=RunExtensions | None),
    ],
    return_annotation=Any,
)  # fmt: skip
