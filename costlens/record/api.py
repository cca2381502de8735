"""``costlens.profile``: a decorator and a context manager, each use recording a new run."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from costlens.core import config
from costlens.record.monitor import LiveOptions, RunExtensions
from costlens.record.run import ProfiledRun, RunOptions


class _Profile:
    """Both a decorator and a context manager (each use records a new run)."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self._runs: list[ProfiledRun] = []

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise TypeError("costlens.profile decorates a function")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            run = ProfiledRun(self.options, default_name=getattr(fn, "__name__", "")).start()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                run.end(exc=exc, exit_code=_lib_exit_code(exc))
                raise
            run.end()
            return result

        return wrapper

    def __enter__(self) -> ProfiledRun:
        run = ProfiledRun(self.options).start()
        self._runs.append(run)
        return run

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        run = self._runs.pop() if self._runs else None
        if run is not None:
            run.end(exc=exc, exit_code=_lib_exit_code(exc))
        return False  # never swallow the training's exception


def _lib_exit_code(exc: BaseException | None) -> int | None:
    return exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else None


def _check_arguments(args: dict[str, Any]) -> None:
    """Refuse a bad argument (an :class:`~costlens.core.errors.InputError`, a ``ValueError``) or
    ``COSTLENS_*`` variable (a ``ConfigError``) before training starts: never a silent default. (An
    unknown strategy is warned of and recorded as "other", by design of the profiler.)"""
    from costlens.core.validate import interval_s, optional_name, url

    for key in ("project", "name", "base_model", "provider", "instance", "region"):
        optional_name(args[key], key)
    for i, tag in enumerate(args["tags"] or ()):
        optional_name(tag, f"tags[{i}]")
    interval_s(args["sample_interval_s"], "sample_interval_s")
    if args["db"] is not None:
        url(args["db"], "db")
    config.check_environment()


def profile(
    func: Callable[..., Any] | None = None,
    /,
    *,
    project: str | None = None,
    name: str | None = None,
    strategy: str | None = None,
    base_model: str | None = None,
    tags: list[str] | tuple[str, ...] | None = None,
    sample_interval_s: float = 1.0,
    db: str | None = None,
    provider: str | None = None,
    instance: str | None = None,
    region: str | None = None,
    max_usd: float | None = None,
    stop_when_idle_min: float | None = None,
    expected_steps: int | None = None,
    quiet: bool | None = None,
    extensions: RunExtensions | None = None,
) -> Any:
    """Record a training run: ``@profile``, ``@profile(...)`` or ``with profile(...) as run``.

    ``sample_interval_s``: seconds between telemetry readings. ``db``: store URL (default
    ``$COSTLENS_DB`` or the SQLite file in ``~/.costlens``). ``provider``/``instance``/``region``:
    where it ran, for pricing and grid carbon later (and for the live cost line).

    ``max_usd``: warn at 80% of this spend, stop the training at 100% (the run is saved as
    ``stopped``; see :mod:`costlens.record.signals`). ``stop_when_idle_min``: stop when every
    GPU has been idle this many minutes. ``expected_steps``: the total, for a projected cost.
    ``quiet``: no live line and no summary on stderr (default: ``$COSTLENS_QUIET``).
    ``extensions``: the price and the trackers (``costlens.profile`` fills them in).
    """
    _check_arguments(locals())
    _check_limits(max_usd, stop_when_idle_min, expected_steps)
    live = LiveOptions(
        max_usd=max_usd,
        stop_when_idle_min=stop_when_idle_min,
        quiet=config.QUIET.get() if quiet is None else bool(quiet),
        tick_s=min(1.0, max(float(sample_interval_s), 0.01)),
        extensions=extensions or RunExtensions(),
    )
    spec = _Profile(
        RunOptions(
            project=project,
            name=name,
            strategy=strategy,
            base_model=base_model,
            tags=tags,
            sample_interval_s=sample_interval_s,
            db=db,
            provider=provider,
            instance=instance,
            region=region,
            expected_steps=int(expected_steps) if expected_steps else None,
            live=live,
        )
    )
    return spec(func) if func is not None else spec


def _check_limits(max_usd: Any, idle_min: Any, expected_steps: Any) -> None:
    """A bad limit is the caller's mistake: say so at once (ValueError), not mid-training."""
    for name, value in (("max_usd", max_usd), ("stop_when_idle_min", idle_min)):
        if value is not None and not (isinstance(value, (int, float)) and 0 < value < float("inf")):
            raise ValueError(f"costlens.profile: {name} must be a positive number (got {value!r})")
    if expected_steps is not None and not (isinstance(expected_steps, int) and expected_steps > 0):
        raise ValueError(
            f"costlens.profile: expected_steps must be a positive whole number (got "
            f"{expected_steps!r})"
        )
