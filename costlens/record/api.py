"""What ``costlens.profile`` returns: a decorator and a context manager, each use recording a new
run. The one public ``profile`` (:mod:`costlens.apps.tracking`, priced and reporting) checks the
options and calls :func:`start_profile`; nothing here is a second ``profile``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from costlens.record.options import RunOptions
from costlens.record.run import ProfiledRun


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


def log(step: int | None = None, rank: int | None = None, **metrics: Any) -> None:
    """``run.log`` for code that has no handle on its run (a ``@costlens.profile`` function, a
    script under ``costlens run``): the metrics go to the run started last and not ended; without
    one, nothing happens. Never raises into the training."""
    from costlens.record.safety import log_once
    from costlens.record.signals import current_run

    try:
        run = current_run()
        if run is not None:
            run.log(step=step, rank=rank, **metrics)
    except Exception as exc:
        log_once("log", exc)


def start_profile(func: Callable[..., Any] | None, options: RunOptions) -> Any:
    """``func`` decorated (each call records a run), or, without one, what ``@`` or ``with``
    takes: the record layer's half of ``costlens.profile`` (options already checked by
    :func:`costlens.record.options.run_options`)."""
    spec = _Profile(options)
    return spec(func) if func is not None else spec
