"""An internal error of the profiler is said once (logger ``costlens``), never raised."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("costlens")

_logged: set[str] = set()


def log_once(key: str, exc: BaseException) -> None:
    """An internal error: said once, never raised into training."""
    if key in _logged:
        return
    _logged.add(key)
    log.warning(
        "costlens: internal error in %s, recording may be incomplete (%s: %s)",
        key,
        type(exc).__name__,
        exc,
        exc_info=log.isEnabledFor(logging.DEBUG),
    )


def safe_call(fn: Callable[[], Any], key: str) -> Any:
    """``fn()``, or None when it raised (said once under ``key``)."""
    try:
        return fn()
    except Exception as exc:
        log_once(key, exc)
        return None
