""":class:`CostModel`, the scikit-learn regressor of sustained FLOP/s per device (log).

The contract of scikit-learn: ``__init__`` stores its keyword arguments as given, ``fit``
returns ``self``, fitted attributes end in ``_``, ``predict`` refuses an unfitted model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from costlens.core.errors import EstimatorError
from costlens.core.vocab import COVERAGE
from costlens.estimator.coldstart import ColdStart, cold_features, shipped_cold_start
from costlens.estimator.features import FEATURES, as_frame, continuous, design, energy_table
from costlens.estimator.priors import load_priors, prior_row

MIN_CALIBRATION_RUNS = 10  # fewer recorded runs in all: no pooled interval (see below)
# A group (accelerator, precision) with this many runs or more trusts its own runs: the
# intercept's prior strength is chosen too, and, without a pooled interval, the group's own
# leave-one-out residuals give its interval. Fewer: the prior's published range is the interval.
MIN_GROUP_RUNS = 3
# Penalties (in runs) tried on the slopes when ``alpha`` is None; the leave-one-out error picks.
ALPHA_GRID: tuple[float, ...] = (0.01, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
# Intercept penalties tried (times ``prior_strength``) for a group of MIN_GROUP_RUNS or more;
# the first is kept on a tie, so the prior keeps its full weight unless the runs disagree.
PRIOR_SCALES: tuple[float, ...] = (1.0, 0.1, 0.01, 0.001)
# A group's own interval is never narrower than +-0.1 e-folds (about 10%), however well its
# few runs agree (run-to-run noise of a shared machine; the RANGE_TOL scale).
MIN_HALF_WIDTH = 0.1
# A scenario within 0.1 e-folds (about 10%) of the recorded range is not an extrapolation.
RANGE_TOL = 0.1


class CostModel(RegressorMixin, BaseEstimator):
    """Learns the sustained per-device FLOP/s (log) of training runs.

    ``X``: a DataFrame with the columns in :data:`FEATURES`; ``y``: log of achieved FLOP/s per
    device (natural log). The prediction is an offset model: the prior anchor (peak x typical MFU
    from the prior table, or the prior's FLOP/s where no peak is known) plus a ridge correction
    learned per (accelerator, precision) group from strategy, workload, log model size, log
    tokens per step and log world size. Penalties: ``prior_strength`` on the intercept (a group
    with n runs keeps about n / (n + prior_strength) of its mean deviation from the prior) and
    ``alpha`` on the standardised slopes and category effects (None: chosen per group from
    :data:`ALPHA_GRID` by leave-one-out error). Groups without runs get the prior
    and its published range as the interval.

    Parameters (keyword-only): ``alpha`` and ``prior_strength`` ridge penalties (in runs),
    ``coverage`` of the interval, ``priors`` path of a prior table (None: the shipped one),
    ``clip_log`` how far (e-folds) beyond the recorded range the learned slopes are followed,
    ``widen_per_log`` how much the
    interval widens per e-fold outside the recorded range.
    """

    # Saved models name the class by its public path, so moving the code never breaks them.
    __module__ = "costlens.estimator"

    def __init__(
        self,
        *,
        alpha: float | None = None,
        prior_strength: float = 1.0,
        coverage: float = COVERAGE,
        priors: str | None = None,
        clip_log: float = 2.0,
        widen_per_log: float = 0.5,
    ) -> None:
        self.alpha = alpha
        self.prior_strength = prior_strength
        self.coverage = coverage
        self.priors = priors
        self.clip_log = clip_log
        self.widen_per_log = widen_per_log

    def __sklearn_tags__(self) -> Tags:
        """What ``X`` holds: words (accelerator, precision, strategy, workload) beside numbers,
        and NaN where a feature is unknown (e.g. ``tokens_per_step``)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

    # ---- fitting ------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> CostModel:
        """Fit on recorded runs (zero rows gives the prior-only model). Returns self.

        The cold start it anchors on (``cold_start_``, fitted on the published-runs table in
        force) is part of the fitted model: a saved model predicts the same after the shipped
        tables change. No ``sample_weight``: every recorded run counts once."""
        self._check_params()
        frame = as_frame(X)
        y = np.asarray(y, dtype=float).ravel()
        if len(y) != len(frame):
            raise EstimatorError(f"X has {len(frame)} rows but y has {len(y)}.")
        if len(y) and not np.all(np.isfinite(y)):
            raise EstimatorError("y (log FLOP/s per device) must be finite.")
        self.priors_ = load_priors(self.priors)
        self.cold_start_ = shipped_cold_start()
        anchor = self._anchor(frame)[0]
        resid = y - anchor
        cont = continuous(frame)
        self.groups_: dict[tuple[str, str], dict[str, Any]] = {}
        loo = np.empty(len(y))
        keys = list(zip(frame["accelerator"], frame["precision"], strict=True))
        for key in dict.fromkeys(keys):
            idx = np.array([k == key for k in keys])
            group = self._fit_group(frame[idx], cont[idx], resid[idx])
            loo[idx] = group.pop("loo_resid")
            self.groups_[key] = group
        self.loo_residuals_ = loo
        self.n_runs_ = len(y)
        self.resid_lo_, self.resid_hi_ = conformal(loo, self.coverage)
        self.energy_ = energy_table(frame)
        self.n_features_in_ = len(FEATURES)
        self.feature_names_in_ = np.array(FEATURES, dtype=object)
        return self

    def _check_params(self) -> None:
        if not ((self.alpha is None or self.alpha > 0) and self.prior_strength > 0):
            raise EstimatorError(
                f"alpha and prior_strength must be positive (got {self.alpha}, "
                f"{self.prior_strength})."
            )
        if not 0 < self.coverage < 1:
            raise EstimatorError(f"coverage must be in (0, 1) (got {self.coverage}).")

    def _fit_group(self, frame: pd.DataFrame, cont: np.ndarray, resid: np.ndarray) -> dict:
        center = np.nanmedian(cont, axis=0)
        center = np.where(np.isfinite(center), center, 0.0)
        filled = np.where(np.isnan(cont), center, cont)
        scale = filled.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        strategies = sorted(set(frame["strategy"]))
        workloads = sorted(set(frame["workload"]))
        x = design(frame, filled, center, scale, strategies, workloads)
        alphas = ALPHA_GRID if self.alpha is None else (float(self.alpha),)
        strengths = [float(self.prior_strength)]
        if len(resid) >= MIN_GROUP_RUNS:
            strengths = [s * float(self.prior_strength) for s in PRIOR_SCALES]
        # alpha=None: the penalty with the smallest leave-one-out error (closed form, as in
        # scikit-learn's RidgeCV); held-out runs of a benchmark never take part in this choice.
        alpha, strength, coef, loo = min(
            (self._ridge(x, resid, a, s) for s in strengths for a in alphas),
            key=lambda f: np.mean(f[3] ** 2),
        )
        return {
            "alpha": alpha,
            "prior_strength": strength,
            "tails": group_tails(loo, self.coverage),
            "coef": coef,
            "center": center,
            "scale": scale,
            "strategies": strategies,
            "workloads": workloads,
            "workload_share": np.array([np.mean(frame["workload"] == w) for w in workloads]),
            "lo": np.nanmin(np.where(np.isnan(cont), np.inf, cont), axis=0),
            "hi": np.nanmax(np.where(np.isnan(cont), -np.inf, cont), axis=0),
            "n": len(resid),
            "mean_resid": float(np.mean(resid)),
            "loo_resid": loo,
        }

    @staticmethod
    def _ridge(
        x: np.ndarray, resid: np.ndarray, alpha: float, strength: float
    ) -> tuple[float, float, np.ndarray, np.ndarray]:
        """(alpha, intercept strength, coefficients, leave-one-out residuals) of one ridge fit."""
        penalty = np.full(x.shape[1], alpha)
        penalty[0] = strength  # the intercept: shrinkage towards the prior
        inv = np.linalg.inv(x.T @ x + np.diag(penalty))
        coef = inv @ x.T @ resid
        hat = np.einsum("ij,jk,ik->i", x, inv, x)
        return alpha, strength, coef, (resid - x @ coef) / np.clip(1.0 - hat, 1e-9, None)

    # ---- prediction ---------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        """Predicted log FLOP/s per device (natural log), the interval's median."""
        return self.predict_interval(X)[0]

    def predict_interval(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(median, low, high, extrapolation) of log FLOP/s per device; low/high bound the
        ``coverage`` interval (10th and 90th percentile for 0.8)."""
        mean, lo, hi, reasons = self.predict_interval_reasons(X)
        return mean, lo, hi, reasons != ""

    def predict_interval_reasons(
        self, X: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`predict_interval` with, in place of the flag, why each row extrapolates
        ("" when it does not): the cold start's reasons where no run was recorded on the
        accelerator and precision, else the recorded runs' range."""
        check_is_fitted(self, "groups_")
        frame = as_frame(X)
        anchor, prior_lo, prior_hi, reasons = self._anchor(frame)
        cont = continuous(frame)
        mean, lo, hi = anchor.copy(), anchor + prior_lo, anchor + prior_hi
        extrap = reasons.copy()
        keys = pd.MultiIndex.from_arrays([frame["accelerator"], frame["precision"]])
        codes, uniques = pd.factorize(keys)
        for gi, key in enumerate(uniques):
            group = self.groups_.get(tuple(key))
            if group is None:
                continue
            idx = codes == gi
            mean[idx], lo[idx], hi[idx], outside = self._predict_group(
                group, frame[idx], cont[idx], anchor[idx], prior_lo[idx], prior_hi[idx]
            )
            extrap[idx] = np.where(outside, "outside the recorded runs' range", "")
        # Physical ceiling: no device runs above its peak.
        peak = np.log(frame["peak_flops_per_s"].to_numpy(dtype=float))
        has_peak = np.isfinite(peak)
        for arr in (mean, lo, hi):
            arr[has_peak] = np.minimum(arr[has_peak], peak[has_peak])
        return mean, lo, hi, extrap

    def _predict_group(
        self,
        group: dict[str, Any],
        frame: pd.DataFrame,
        cont: np.ndarray,
        anchor: np.ndarray,
        prior_lo: np.ndarray,
        prior_hi: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(median, low, high, extrapolation) for the rows of one fitted group."""
        filled = np.where(np.isnan(cont), group["center"], cont)
        below = np.clip(group["lo"] - RANGE_TOL - filled, 0, None)
        above = np.clip(filled - group["hi"] - RANGE_TOL, 0, None)
        outside = (below + above).sum(axis=1)
        unseen = ~np.isin(frame["strategy"].to_numpy(), group["strategies"])
        outside = outside + unseen.astype(float)
        clipped = np.clip(filled, group["lo"] - self.clip_log, group["hi"] + self.clip_log)
        x = design(
            frame, clipped, group["center"], group["scale"], group["strategies"],
            group["workloads"], group.get("workload_share"),
        )  # fmt: skip
        m = anchor + x @ group["coef"]
        widen = 1.0 + self.widen_per_log * outside
        # The pooled interval (all runs) where calibrated, else the group's own (never wider than
        # the prior's published range), else the prior's.
        q_lo, q_hi = self.resid_lo_, self.resid_hi_
        if np.isfinite(q_lo):
            lo_w, hi_w = np.full(len(frame), q_lo), np.full(len(frame), q_hi)
        else:
            own_lo, own_hi = group.get("tails", (-math.inf, math.inf))
            lo_w, hi_w = np.maximum(prior_lo, own_lo), np.minimum(prior_hi, own_hi)
        lo_w, hi_w = lo_w * widen, hi_w * widen
        return m, m + np.minimum(lo_w, 0.0), m + np.maximum(hi_w, 0.0), outside > 1e-9

    def _anchor(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Cold-start log FLOP/s per device, its log offsets to the interval's low / high, and
        why the cold start extrapolates ("" when it does not): the published-runs model
        (``coldstart``) where the accelerator has a peak, the prior table's FLOP/s elsewhere."""
        anchor, lo, hi = self._prior_anchor_columns(frame)
        reasons = np.full(len(frame), "", dtype=object)
        peaks = frame["peak_flops_per_s"].to_numpy(dtype=float)
        has_peak = np.isfinite(peaks) & (peaks > 0)
        if has_peak.any():
            sub = frame[has_peak]
            cold = cold_start_for(self)
            archs = getattr(cold, "archs_", {})
            mid, c_lo, c_hi, why = cold.predict_interval(
                cold_features(
                    peak_flops_per_s=peaks[has_peak], precision=sub["precision"].to_numpy(),
                    strategy=np.where(
                        sub["fine_tune"] & (sub["strategy"] == "scratch"), "full-finetune",
                        sub["strategy"],
                    ),
                    params=sub["params"].to_numpy(), gpus=sub["world_size"].to_numpy(),
                    tokens=sub["tokens"].to_numpy(), seq_len=sub["seq_len"].to_numpy(),
                    trainable_fraction=sub["trainable_fraction"].to_numpy(),
                    architecture=[archs.get(k) for k in sub["accelerator"].to_numpy()],
                )
            )  # fmt: skip
            anchor[has_peak] = mid + np.log(peaks[has_peak])
            lo[has_peak], hi[has_peak] = c_lo - mid, c_hi - mid
            reasons[has_peak] = why
        return anchor, lo, hi, reasons

    def _prior_anchor_columns(
        self, frame: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Prior log FLOP/s per device and its log offsets to the prior's low / high."""
        priors = getattr(self, "priors_", None)
        if priors is None:
            priors = load_priors(self.priors)
        n = len(frame)
        anchor, lo, hi = np.empty(n), np.empty(n), np.empty(n)
        peaks = frame["peak_flops_per_s"].to_numpy(dtype=float)
        acc = frame["accelerator"].to_numpy()
        prec = frame["precision"].to_numpy()
        cache: dict[tuple[str, str, bool], tuple[float, float, float]] = {}
        for i in range(n):
            has_peak = bool(np.isfinite(peaks[i]) and peaks[i] > 0)
            key = (str(acc[i]), str(prec[i]), has_peak)
            if key not in cache:
                cache[key] = _prior_anchor(priors, *key)
            a, lo[i], hi[i] = cache[key]
            anchor[i] = a + (math.log(peaks[i]) if has_peak else 0.0)
        return anchor, lo, hi

    def summary(self) -> dict[str, Any]:
        """What the model learned: runs, groups (typical MFU or FLOP/s), interval width."""
        check_is_fitted(self, "groups_")
        groups = [
            {
                "accelerator": acc,
                "precision": prec,
                "runs": g["n"],
                "efficiency_vs_prior": math.exp(g["mean_resid"]),
                "strategies": ",".join(g["strategies"]),
                "alpha": g.get("alpha"),
                "prior_strength": g.get("prior_strength", self.prior_strength),
                # the group's own interval (used where no pooled one is calibrated)
                "interval_low_factor": _exp_or_none(g.get("tails", (math.inf,))[0]),
                "interval_high_factor": _exp_or_none(g.get("tails", (0, math.inf))[1]),
            }
            for (acc, prec), g in self.groups_.items()
        ]
        return {
            "runs": self.n_runs_,
            "groups": groups,
            "interval_low_factor": _exp_or_none(self.resid_lo_),
            "interval_high_factor": _exp_or_none(self.resid_hi_),
            "coverage": self.coverage,
        }


def cold_start_for(model: CostModel) -> ColdStart:
    """The model's own cold start (``cold_start_``: fitted with the model, or set by hand, e.g. a
    benchmark holding a family out); a model saved before the cold start was fitted state
    (``tests/fixtures/estimator_model_v1.pkl``) takes the one of the shipped table in force."""
    own = getattr(model, "cold_start_", None)
    # A model saved by an older costlens carries a cold start without today's inputs (GPU
    # generation, bounded share): the shipped one stands in rather than a failed prediction.
    current = own is not None and hasattr(own, "cat_scale")
    return own if current else shipped_cold_start()


def _prior_anchor(
    priors: pd.DataFrame, accelerator: str, precision: str, has_peak: bool
) -> tuple[float, float, float]:
    """(log of the prior's MFU or FLOP/s, log low/value, log high/value) for one accelerator."""
    kind = "mfu" if has_peak else "flops_per_s"
    row = prior_row(priors, kind, accelerator, precision)
    if row is None:
        if not has_peak:
            raise EstimatorError(
                f"no peak FLOP/s and no prior FLOP/s for accelerator {accelerator!r}: "
                "add a flops_per_s row to the prior table or record a run on it."
            )
        raise EstimatorError("the prior table has no fallback mfu row (key '*').")
    return (
        math.log(row["value"]),
        math.log(row["low"] / row["value"]),
        math.log(row["high"] / row["value"]),
    )


def _exp_or_none(v: float) -> float | None:
    return math.exp(v) if math.isfinite(v) else None


def conformal(resid: np.ndarray, coverage: float) -> tuple[float, float]:
    """Interval tails from leave-one-out residuals (jackknife quantiles, interpolated).

    Needs at least :data:`MIN_CALIBRATION_RUNS` residuals; fewer give -inf/inf (prior tails).
    """
    r = np.sort(resid[np.isfinite(resid)])
    if len(r) < MIN_CALIBRATION_RUNS:
        return -math.inf, math.inf
    tail = (1.0 - coverage) / 2.0
    lo, hi = np.quantile(r, [tail, 1.0 - tail])
    return float(lo), float(hi)


def group_tails(resid: np.ndarray, coverage: float) -> tuple[float, float]:
    """One group's own interval tails from its leave-one-out residuals: +- Student's t quantile
    (n - 1 degrees of freedom: a handful of runs estimate their spread loosely) times their root
    mean square (which counts a bias too), at least :data:`MIN_HALF_WIDTH`. Fewer than
    :data:`MIN_GROUP_RUNS` residuals give -inf/inf (prior tails)."""
    from scipy.stats import t

    r = resid[np.isfinite(resid)]
    if len(r) < MIN_GROUP_RUNS:
        return -math.inf, math.inf
    rms = float(np.sqrt(np.mean(r**2)))
    half = max(float(t.ppf((1.0 + coverage) / 2.0, len(r) - 1)) * rms, MIN_HALF_WIDTH)
    return -half, half
