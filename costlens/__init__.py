"""costlens: what your training really costs, measured.

Heavy dependencies (torch, pandas, scikit-learn, dash) are imported lazily, so ``import costlens``
is cheap and safe inside a training script.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "log", "profile"]


def __getattr__(name: str) -> Any:
    if name == "profile":
        from costlens.apps.tracking import profile  # the profiler, priced and reporting

        return profile
    if name == "log":  # metrics of the active run (a decorated function, `costlens run`)
        from costlens.record.api import log

        return log
    raise AttributeError(f"module 'costlens' has no attribute {name!r}")
