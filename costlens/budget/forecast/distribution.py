"""Each job's per-run distribution: a two-piece lognormal through the estimator's figures.

A run's compute cost, GPU-hours and energy is ``median * exp(sigma * z)`` with
``sigma = sigma_lo`` for ``z < 0`` and ``sigma_hi`` for ``z >= 0``: its 10th, 50th and 90th
percentiles are exactly the estimator's low, point and high figures (a plain lognormal fitted to
low and high when the point lies outside them). Labelling cost is fixed, once per job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from costlens.estimator import Estimate

Z90 = 1.2815515655446004  # standard-normal 90th percentile: P10/P90 = median * exp(-/+ Z90 * sigma)
QUANTITIES = ("cost_usd", "gpu_hours", "energy_kwh")  # USD, GPU-hours, kWh
SUFFIXES = ("", "_low", "_high")


@dataclass
class Dist:
    """Per-run two-piece lognormal of each simulated quantity, plus a fixed label cost."""

    median: dict[str, np.ndarray]  # quantity -> per job (0 = always zero)
    sigma_lo: dict[str, np.ndarray]
    sigma_hi: dict[str, np.ndarray]
    known: dict[str, np.ndarray]  # False where the estimator has no figure (e.g. energy, no TDP)
    label_usd: np.ndarray  # per job (labels are bought once, whatever the repeats), fixed

    def job_mean(self, q: str, repeats: np.ndarray) -> np.ndarray:
        """Expected value of each job, all its runs (and its labels) included."""
        out = self.mean(q) * repeats
        return out + self.label_usd if q == "cost_usd" else out

    def mean(self, q: str) -> np.ndarray:
        """Expected value of one run of each job (compute USD, GPU-hours or kWh; no labels)."""
        import numpy as np
        from scipy.special import ndtr

        s1, s2 = self.sigma_lo[q], self.sigma_hi[q]
        return self.median[q] * (np.exp(s1**2 / 2) * ndtr(-s1) + np.exp(s2**2 / 2) * ndtr(s2))

    def quantile(self, q: str, z: float) -> np.ndarray:
        import numpy as np

        sigma = self.sigma_lo[q] if z < 0 else self.sigma_hi[q]
        return self.median[q] * np.exp(sigma * z)


def number(value: Any) -> float:
    """``float(value)``, NaN for None or a non-number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def fit(estimates: Sequence[Estimate]) -> Dist:
    """Two-piece lognormal per run through each Estimate's (low, point, high) figures."""
    import numpy as np

    med: dict[str, np.ndarray] = {}
    s_lo: dict[str, np.ndarray] = {}
    s_hi: dict[str, np.ndarray] = {}
    known: dict[str, np.ndarray] = {}
    for q in QUANTITIES:
        figures = [getattr(e, q) for e in estimates]  # an Interval per estimate
        point, low, high = (
            np.array([number(getattr(x, b)) for x in figures], dtype=float)
            for b in ("point", "low", "high")
        )
        known[q] = np.isfinite(point) & (point >= 0)
        ok = known[q] & np.isfinite(low) & np.isfinite(high) & (low > 0) & (high >= low)
        inside = ok & (point > low) & (point < high)
        with np.errstate(divide="ignore", invalid="ignore"):
            lnlo = np.log(np.where(ok, low, 1.0))
            lnhi = np.log(np.where(ok, high, 1.0))
            lnpt = np.log(np.where(inside, point, 1.0))
        # the point inside the interval: it is the median; otherwise a plain lognormal
        centre = np.where(inside, lnpt, (lnlo + lnhi) / 2)
        s_lo[q] = np.where(ok, (centre - lnlo) / Z90, 0.0)
        s_hi[q] = np.where(ok, (lnhi - centre) / Z90, 0.0)
        # no usable interval (a zero figure, or no figure at all): the point value, fixed
        med[q] = np.where(ok, np.exp(centre), np.where(known[q], point, 0.0))
    # the estimator prices labels per scenario; a job buys them once (its repeats reuse them)
    label = np.array([number(e.label_cost_usd) for e in estimates], dtype=float)
    label = np.where(np.isfinite(label), np.maximum(label, 0.0), 0.0)
    return Dist(med, s_lo, s_hi, known, label)
