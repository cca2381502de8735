"""Predict what a training job will cost: physics for the FLOPs, a learned efficiency for the speed.

FLOPs come from documented per-strategy accounting (``strategy_flops``, see docs/estimator.md).
Wall time = FLOPs / (per-device sustained FLOP/s x devices). The sustained FLOP/s is what
:class:`CostModel` (a scikit-learn regressor) learns from recorded runs, starting from the dated
prior table ``data/mfu_priors.csv`` (typical MFU per accelerator family; measured FLOP/s for CPUs).
Every figure comes with an 80% interval (10th..90th percentile) from conformal calibration on
leave-one-out residuals, widened outside the recorded runs' ranges (``extrapolation=True``).

No torch import here: this is the analysis path.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
import os
import pickle
import tempfile
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from costlens.catalog import PriceTable
from costlens.errors import (
    CostlensError,
    DataTableError,
    EstimatorError,
    PriceNotFoundError,
    UnknownAcceleratorError,
)
from costlens.physics import strategy_flops
from costlens.vocab import COVERAGE, CPU_KEY, ESTIMABLE_STRATEGIES, PRECISIONS

# The strategies the estimator prices (vocab.STRATEGIES adds "other", which it does not).
STRATEGIES = ESTIMABLE_STRATEGIES

PRIORS_FILE = "mfu_priors.csv"
MODEL_FILE = "model.pkl"
MIN_CALIBRATION_RUNS = 10  # fewer recorded runs: the prior's published range is the interval

# Columns of the feature frame X that CostModel.fit/predict take (one row per run or scenario).
FEATURES = (
    "accelerator",  # catalog key ("A100-80GB-SXM", "CPU", ...)
    "precision",
    "strategy",
    "workload",  # the script / run name ("" when unknown)
    "params",  # total parameters
    "tokens_per_step",  # tokens (or samples) per optimizer step per device; NaN when unknown
    "world_size",  # devices working on the job
    "peak_flops_per_s",  # dense peak per device at the precision; NaN when none (CPU)
)
_CONTINUOUS = ("log_params", "log_tokens_per_step", "log_world_size")
# A scenario within 0.1 e-folds (about 10%) of the recorded range is not an extrapolation.
_RANGE_TOL = 0.1


# --------------------------------------------------------------------------------------------
# Scenarios and estimates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One training job to price. ``tokens``: tokens for language models, else samples x epochs.

    Trailing optional fields beyond the contract: ``tokens_per_step`` (per device, for the
    efficiency model; default: like the recorded runs), ``workload`` (a recorded script name),
    ``epochs`` (frozen-features: the frozen forward pass runs once per unique sample, cached).
    """

    params: float
    tokens: float
    strategy: str = "scratch"
    gpu: str = "A100-80GB"
    gpus: int = 1
    precision: str = "bf16"
    provider: str | None = None
    instance: str | None = None
    spot: bool = False
    trainable_fraction: float | None = None
    labelled_samples: float | None = None
    usd_per_label: float | None = None
    n_layers: int | None = None
    d_model: int | None = None
    seq_len: int | None = None
    tokens_per_step: float | None = None
    workload: str | None = None
    epochs: float | None = None


@dataclass
class Estimate:
    """Every figure with its 80% interval (low = 10th, high = 90th percentile).

    Dollar figures are NaN (``None`` in :meth:`as_dict`) when no price is known for the
    accelerator (e.g. a CPU without a price row); energy likewise without a TDP or measurement.
    """

    strategy: str
    flops: float
    wall_hours: float
    wall_hours_low: float
    wall_hours_high: float
    gpu_hours: float
    gpu_hours_low: float
    gpu_hours_high: float
    cost_usd: float
    cost_usd_low: float
    cost_usd_high: float
    energy_kwh: float
    energy_kwh_low: float
    energy_kwh_high: float
    label_cost_usd: float
    total_cost_usd: float
    total_cost_usd_low: float
    total_cost_usd_high: float
    mfu_assumed: float
    extrapolation: bool
    provider: str
    instance_type: str
    usd_per_gpu_hour: float
    spot: bool
    gpu: str = ""
    gpus: int = 1
    precision: str = ""
    flops_per_s_per_device: float = float("nan")
    energy_basis: str = ""
    efficiency_basis: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict (NaN becomes None)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, (float, np.floating)):
                v = None if not math.isfinite(float(v)) else float(v)
            elif isinstance(v, np.bool_):
                v = bool(v)
            elif isinstance(v, np.integer):
                v = int(v)
            out[f.name] = v
        return out


# --------------------------------------------------------------------------------------------
# Priors table
# --------------------------------------------------------------------------------------------


def priors_path() -> Path:
    """The shipped prior table (``data/mfu_priors.csv``)."""
    try:
        from costlens.paths import data_dir

        return data_dir() / PRIORS_FILE
    except CostlensError:
        return Path(__file__).resolve().parent.parent / "data" / PRIORS_FILE


_PRIOR_COLUMNS = ("kind", "key", "precision", "value", "low", "high", "source", "as_of")
_PRIOR_KINDS = ("mfu", "flops_per_s", "trainable_fraction")


def load_priors(path: str | Path | None = None) -> pd.DataFrame:
    """The prior table, validated (DataTableError names the line and column of a bad cell)."""
    p = Path(path) if path else priors_path()
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in _PRIOR_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DataTableError(f"missing columns {', '.join(missing)}", path=str(p), line=1)
            rows = []
            for i, row in enumerate(reader, start=2):
                if row["kind"] not in _PRIOR_KINDS:
                    raise DataTableError(
                        f"kind must be one of {', '.join(_PRIOR_KINDS)}",
                        path=str(p),
                        line=i,
                        column="kind",
                    )
                vals = {}
                for col in ("value", "low", "high"):
                    try:
                        vals[col] = float(row[col])
                    except (TypeError, ValueError):
                        raise DataTableError(
                            f"{row[col]!r} is not a number", path=str(p), line=i, column=col
                        ) from None
                    if not vals[col] > 0:
                        raise DataTableError("must be positive", path=str(p), line=i, column=col)
                if not vals["low"] <= vals["value"] <= vals["high"]:
                    raise DataTableError(
                        "need low <= value <= high", path=str(p), line=i, column="value"
                    )
                for col in ("source", "as_of"):
                    if not (row.get(col) or "").strip():
                        raise DataTableError("is empty", path=str(p), line=i, column=col)
                rows.append({**row, **vals})
    except OSError as exc:
        raise DataTableError(f"cannot read the prior table: {exc.strerror}", path=str(p)) from exc
    return pd.DataFrame(rows, columns=[*_PRIOR_COLUMNS, "note"])


def _prior_row(priors: pd.DataFrame, kind: str, key: str, precision: str) -> pd.Series | None:
    sub = priors[priors["kind"] == kind]
    best, best_rank = None, (-1, -1)
    for _, row in sub.iterrows():
        k = row["key"]
        if k != "*" and not key.startswith(k):
            continue
        if row["precision"] not in ("*", precision):
            continue
        rank = (0 if k == "*" else len(k), 1 if row["precision"] == precision else 0)
        if rank > best_rank:
            best, best_rank = row, rank
    return best


def default_trainable_fraction(strategy: str, priors: pd.DataFrame | None = None) -> float | None:
    """The prior table's default trainable share for ``lora`` / ``frozen-features``."""
    if strategy not in ("lora", "frozen-features"):
        return None
    row = _prior_row(
        priors if priors is not None else load_priors(), "trainable_fraction", strategy, "*"
    )
    return None if row is None else float(row["value"])


# --------------------------------------------------------------------------------------------
# The scikit-learn model
# --------------------------------------------------------------------------------------------


# Penalties (in runs) tried on the slopes when ``alpha`` is None; the leave-one-out error picks.
ALPHA_GRID: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0, 30.0)


class CostModel(BaseEstimator, RegressorMixin):
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

    # ---- fitting ------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> CostModel:
        """Fit on recorded runs (zero rows gives the prior-only model). Returns self."""
        if not ((self.alpha is None or self.alpha > 0) and self.prior_strength > 0):
            raise EstimatorError(
                f"alpha and prior_strength must be positive (got {self.alpha}, "
                f"{self.prior_strength})."
            )
        if not 0 < self.coverage < 1:
            raise EstimatorError(f"coverage must be in (0, 1) (got {self.coverage}).")
        frame = _as_frame(X)
        y = np.asarray(y, dtype=float).ravel()
        if len(y) != len(frame):
            raise EstimatorError(f"X has {len(frame)} rows but y has {len(y)}.")
        if len(y) and not np.all(np.isfinite(y)):
            raise EstimatorError("y (log FLOP/s per device) must be finite.")
        self.priors_ = load_priors(self.priors)
        anchor, _, _ = self._anchor(frame)
        resid = y - anchor
        cont = _continuous(frame)
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
        q_lo, q_hi = _conformal(loo, self.coverage)
        self.resid_lo_, self.resid_hi_ = q_lo, q_hi
        self.energy_ = _energy_table(frame)
        self.n_features_in_ = len(FEATURES)
        self.feature_names_in_ = np.array(FEATURES, dtype=object)
        return self

    def _fit_group(self, frame: pd.DataFrame, cont: np.ndarray, resid: np.ndarray) -> dict:
        center = np.nanmedian(cont, axis=0)
        center = np.where(np.isfinite(center), center, 0.0)
        filled = np.where(np.isnan(cont), center, cont)
        scale = filled.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)
        strategies = sorted(set(frame["strategy"]))
        workloads = sorted(set(frame["workload"]))
        design = _design(frame, filled, center, scale, strategies, workloads)
        alphas = ALPHA_GRID if self.alpha is None else (float(self.alpha),)
        # alpha=None: the penalty with the smallest leave-one-out error (closed form, as in
        # scikit-learn's RidgeCV); held-out runs of a benchmark never take part in this choice.
        alpha, coef, loo = min(
            (self._ridge(design, resid, a) for a in alphas), key=lambda f: np.mean(f[2] ** 2)
        )
        return {
            "alpha": alpha,
            "coef": coef,
            "center": center,
            "scale": scale,
            "strategies": strategies,
            "workloads": workloads,
            "lo": np.nanmin(np.where(np.isnan(cont), np.inf, cont), axis=0),
            "hi": np.nanmax(np.where(np.isnan(cont), -np.inf, cont), axis=0),
            "n": len(resid),
            "mean_resid": float(np.mean(resid)),
            "loo_resid": loo,
        }

    def _ridge(
        self, design: np.ndarray, resid: np.ndarray, alpha: float
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """(alpha, coefficients, leave-one-out residuals) of one ridge fit."""
        penalty = np.full(design.shape[1], alpha)
        penalty[0] = float(self.prior_strength)  # the intercept: shrinkage towards the prior
        inv = np.linalg.inv(design.T @ design + np.diag(penalty))
        coef = inv @ design.T @ resid
        hat = np.einsum("ij,jk,ik->i", design, inv, design)
        return alpha, coef, (resid - design @ coef) / np.clip(1.0 - hat, 1e-9, None)

    # ---- prediction ---------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        """Predicted log FLOP/s per device (natural log), the interval's median."""
        return self.predict_interval(X)[0]

    def predict_interval(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(median, low, high, extrapolation) of log FLOP/s per device; low/high bound the
        ``coverage`` interval (10th and 90th percentile for 0.8)."""
        check_is_fitted(self, "groups_")
        frame = _as_frame(X)
        n = len(frame)
        anchor, prior_lo, prior_hi = self._anchor(frame)
        cont = _continuous(frame)
        mean = anchor.copy()
        lo = anchor + prior_lo
        hi = anchor + prior_hi
        extrap = np.ones(n, dtype=bool)
        keys = pd.MultiIndex.from_arrays([frame["accelerator"], frame["precision"]])
        codes, uniques = pd.factorize(keys)
        for gi, key in enumerate(uniques):
            group = self.groups_.get(tuple(key))
            if group is None:
                continue
            idx = codes == gi
            c = cont[idx]
            filled = np.where(np.isnan(c), group["center"], c)
            below = np.clip(group["lo"] - _RANGE_TOL - filled, 0, None)
            above = np.clip(filled - group["hi"] - _RANGE_TOL, 0, None)
            outside = (below + above).sum(axis=1)
            strat = frame["strategy"].to_numpy()[idx]
            unseen = ~np.isin(strat, group["strategies"])
            outside = outside + unseen.astype(float)
            clipped = np.clip(filled, group["lo"] - self.clip_log, group["hi"] + self.clip_log)
            design = _design(
                frame[idx], clipped, group["center"], group["scale"], group["strategies"],
                group["workloads"],
            )  # fmt: skip
            m = anchor[idx] + design @ group["coef"]
            widen = 1.0 + self.widen_per_log * outside
            q_lo = self.resid_lo_ if np.isfinite(self.resid_lo_) else None
            q_hi = self.resid_hi_ if np.isfinite(self.resid_hi_) else None
            lo_w = (q_lo if q_lo is not None else prior_lo[idx]) * widen
            hi_w = (q_hi if q_hi is not None else prior_hi[idx]) * widen
            mean[idx] = m
            lo[idx] = m + np.minimum(lo_w, 0.0)
            hi[idx] = m + np.maximum(hi_w, 0.0)
            extrap[idx] = outside > 1e-9
        # Physical ceiling: no device runs above its peak.
        peak = np.log(frame["peak_flops_per_s"].to_numpy(dtype=float))
        has_peak = np.isfinite(peak)
        for arr in (mean, lo, hi):
            arr[has_peak] = np.minimum(arr[has_peak], peak[has_peak])
        return mean, lo, hi, extrap

    def _anchor(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
                kind = "mfu" if has_peak else "flops_per_s"
                row = _prior_row(priors, kind, key[0], key[1])
                if row is None:
                    if not has_peak:
                        raise EstimatorError(
                            f"no peak FLOP/s and no prior FLOP/s for accelerator {key[0]!r}: "
                            "add a flops_per_s row to the prior table or record a run on it."
                        )
                    raise EstimatorError("the prior table has no fallback mfu row (key '*').")
                cache[key] = (
                    math.log(row["value"]),
                    math.log(row["low"] / row["value"]),
                    math.log(row["high"] / row["value"]),
                )
            a, lo[i], hi[i] = cache[key]
            anchor[i] = a + (math.log(peaks[i]) if has_peak else 0.0)
        return anchor, lo, hi

    def summary(self) -> dict[str, Any]:
        """What the model learned: runs, groups (typical MFU or FLOP/s), interval width."""
        check_is_fitted(self, "groups_")
        groups = []
        for (acc, prec), g in self.groups_.items():
            groups.append(
                {
                    "accelerator": acc,
                    "precision": prec,
                    "runs": g["n"],
                    "efficiency_vs_prior": math.exp(g["mean_resid"]),
                    "strategies": ",".join(g["strategies"]),
                    "alpha": g.get("alpha"),
                }
            )
        return {
            "runs": self.n_runs_,
            "groups": groups,
            "interval_low_factor": _exp_or_none(self.resid_lo_),
            "interval_high_factor": _exp_or_none(self.resid_hi_),
            "coverage": self.coverage,
        }


def _exp_or_none(v: float) -> float | None:
    return math.exp(v) if math.isfinite(v) else None


def _as_frame(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        missing = [c for c in FEATURES if c not in X.columns]
        if missing:
            raise EstimatorError(f"X lacks the columns {', '.join(missing)} (see FEATURES).")
        frame = X
    else:
        arr = np.asarray(X, dtype=object)
        if arr.ndim != 2 or (arr.size and arr.shape[1] < len(FEATURES)):
            raise EstimatorError(f"X must have the {len(FEATURES)} columns of FEATURES.")
        frame = pd.DataFrame(arr[:, : len(FEATURES)] if arr.size else None, columns=list(FEATURES))
    out = pd.DataFrame(
        {
            "accelerator": frame["accelerator"].astype(str).to_numpy(),
            "precision": frame["precision"].astype(str).to_numpy(),
            # full fine-tuning runs the same computation as training from scratch
            "strategy": frame["strategy"]
            .astype(str)
            .replace("full-finetune", "scratch")
            .to_numpy(),
            "workload": frame["workload"].fillna("").astype(str).to_numpy(),
            "params": pd.to_numeric(frame["params"], errors="coerce").to_numpy(dtype=float),
            "tokens_per_step": pd.to_numeric(frame["tokens_per_step"], errors="coerce").to_numpy(
                dtype=float
            ),
            "world_size": pd.to_numeric(frame["world_size"], errors="coerce").to_numpy(dtype=float),
            "peak_flops_per_s": pd.to_numeric(frame["peak_flops_per_s"], errors="coerce").to_numpy(
                dtype=float
            ),
        }
    )
    for col in ("energy_j_per_flop",):
        if col in frame.columns:
            out[col] = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    return out


def _continuous(frame: pd.DataFrame) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        params = np.log(frame["params"].to_numpy(dtype=float))
        tps = np.log(frame["tokens_per_step"].to_numpy(dtype=float))
        ws = np.log(np.clip(frame["world_size"].to_numpy(dtype=float), 1, None))
    cont = np.column_stack([params, tps, ws])
    return np.where(np.isfinite(cont), cont, np.nan)


def _design(
    frame: pd.DataFrame,
    filled: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    strategies: list[str],
    workloads: list[str],
) -> np.ndarray:
    n = len(frame)
    strat = frame["strategy"].to_numpy()
    work = frame["workload"].to_numpy()
    cols = [np.ones((n, 1))]
    if len(strategies) > 1:
        cols.append((strat[:, None] == np.array(strategies, dtype=object)[None, :]).astype(float))
    if len(workloads) > 1:
        cols.append((work[:, None] == np.array(workloads, dtype=object)[None, :]).astype(float))
    cols.append((filled - center) / scale)
    return np.hstack(cols)


def _conformal(resid: np.ndarray, coverage: float) -> tuple[float, float]:
    """Interval tails from leave-one-out residuals (jackknife quantiles, interpolated).

    Needs at least :data:`MIN_CALIBRATION_RUNS` residuals; fewer give -inf/inf (prior tails).
    """
    r = np.sort(resid[np.isfinite(resid)])
    if len(r) < MIN_CALIBRATION_RUNS:
        return -math.inf, math.inf
    tail = (1.0 - coverage) / 2.0
    lo, hi = np.quantile(r, [tail, 1.0 - tail])
    return float(lo), float(hi)


def _energy_table(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float, float]]:
    """Measured joules per FLOP per (accelerator, precision): median, 10th, 90th percentile."""
    if "energy_j_per_flop" not in frame.columns:
        return {}
    out = {}
    for key, sub in frame.groupby(["accelerator", "precision"]):
        v = sub["energy_j_per_flop"].to_numpy(dtype=float)
        v = v[np.isfinite(v) & (v > 0)]
        if len(v):
            out[(str(key[0]), str(key[1]))] = (
                float(np.median(v)),
                float(np.quantile(v, 0.1)),
                float(np.quantile(v, 0.9)),
            )
    return out


# --------------------------------------------------------------------------------------------
# Recorded runs -> training data
# --------------------------------------------------------------------------------------------


def usable_runs(records: Iterable[dict]) -> list[dict]:
    """Completed runs with FLOPs > 0 and a duration: the ones the model can learn from."""
    return [
        r
        for r in records
        if r.get("status") == "completed"
        and (r.get("flops") or 0) > 0
        and (r.get("duration_s") or 0) > 0
    ]


def run_devices(record: dict) -> int:
    """Devices a run used: its GPU count, else its world size (CPU processes), at least 1."""
    return max(int(record.get("device_count") or 0) or int(record.get("world_size") or 1), 1)


def run_accelerator(record: dict, prices: PriceTable | None = None) -> str:
    """The catalog key of a run's device ("CPU" for host-only runs)."""
    name = record.get("device")
    if not name or int(record.get("device_count") or 0) == 0:
        return CPU_KEY
    return _table(prices).resolve(name)


def _table(prices: PriceTable | None) -> PriceTable:
    """``prices``, else the price table in force (shipped plus the user's file)."""
    return prices if prices is not None else PriceTable.load()


def training_frame(
    records: Iterable[dict], *, prices: PriceTable | None = None
) -> tuple[pd.DataFrame, np.ndarray, list[dict]]:
    """(X, y, used records) from run records; runs on unknown devices are skipped."""
    prices = _table(prices)
    rows, ys, used = [], [], []
    for r in usable_runs(records):
        try:
            key = run_accelerator(r, prices)
            peak = prices.spec(key).peak_for(r.get("precision") or "fp32")
        except UnknownAcceleratorError:
            continue
        n_dev = run_devices(r)
        rows.append(_run_features(r, key, peak, n_dev))
        ys.append(math.log(model_flops(r) / r["duration_s"] / n_dev))
        used.append(r)
    frame = pd.DataFrame(rows, columns=[*FEATURES, "energy_j_per_flop"])
    return frame, np.array(ys, dtype=float), used


def model_flops(record: dict) -> float:
    """A run's FLOPs as the estimator accounts them (``strategy_flops`` of its parameters, data,
    strategy and trainable share: "model FLOPs" as in PaLM's MFU); the profiler's measured FLOPs
    when the parameter count or the data size is unknown."""
    units = record.get("tokens") or record.get("samples") or 0
    n = record.get("params_total") or 0
    if not (units and n):
        return float(record["flops"])
    strategy = record.get("strategy")
    strategy = strategy if strategy in ESTIMABLE_STRATEGIES else "scratch"
    frac = None
    if strategy in ("lora", "frozen-features") and record.get("params_trainable"):
        frac = min(record["params_trainable"] / n, 1.0)
    if frac is None and strategy in ("lora", "frozen-features"):
        strategy = "scratch"  # unknown share: count it as full training
    return float(strategy_flops(n, units, strategy, trainable_fraction=frac))


def _run_features(r: dict, key: str, peak: float | None, n_dev: int) -> dict[str, Any]:
    units = r.get("tokens") or r.get("samples") or 0
    steps = r.get("steps") or 0
    energy = r.get("energy_j")
    strategy = r.get("strategy") or "other"
    return {
        "accelerator": key,
        "precision": r.get("precision") or "fp32",
        "strategy": strategy if strategy in ESTIMABLE_STRATEGIES else "scratch",
        "workload": r.get("name") or "",
        "params": float(r.get("params_total") or np.nan),
        "tokens_per_step": units / steps / n_dev if units and steps else np.nan,
        "world_size": float(n_dev),
        "peak_flops_per_s": float(peak) if peak else np.nan,
        "energy_j_per_flop": energy / model_flops(r) if energy and energy > 0 else np.nan,
    }


def runs_fingerprint(records: Iterable[dict]) -> str:
    """Hash of the run ids, FLOPs and durations a model saw (sha256, 16 hex digits)."""
    h = hashlib.sha256()
    for r in sorted(records, key=lambda r: r["id"]):
        h.update(f"{r['id']}|{float(r['flops']):.6e}|{float(r['duration_s']):.3f}\n".encode())
    return h.hexdigest()[:16]


def fit_records(
    records: Iterable[dict],
    *,
    model: CostModel | None = None,
    prices: PriceTable | None = None,
    progress: Callable[[str], None] | None = None,
) -> CostModel:
    """Fit a model on run records (see :func:`training_frame`); sets ``fingerprint_``."""
    records = list(records)
    if progress:
        progress("building features")
    X, y, used = training_frame(records, prices=prices)
    if progress:
        progress("fitting groups and calibrating intervals")
    model = (model or CostModel()).fit(X, y)
    model.fingerprint_ = runs_fingerprint(used)
    model.n_skipped_ = len(records) - len(used)
    return model


def prior_model() -> CostModel:
    """The prior-only model (fitted on no runs)."""
    return fit_records([])


# --------------------------------------------------------------------------------------------
# Saving and loading
# --------------------------------------------------------------------------------------------


def model_path() -> Path:
    from costlens.paths import home_dir

    return home_dir() / MODEL_FILE


def save_model(model: CostModel, path: str | Path | None = None) -> Path:
    """Pickle the model with costlens and scikit-learn versions (temp name, then rename)."""
    import sklearn

    from costlens import __version__

    check_is_fitted(model, "groups_")
    target = Path(path) if path else model_path()
    payload = {
        "model": model,
        "costlens_version": __version__,
        "sklearn_version": sklearn.__version__,
        "fingerprint": getattr(model, "fingerprint_", ""),
        "n_runs": model.n_runs_,
    }
    fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class ModelWarning(UserWarning):
    """The saved model could not be used; the prior-only model is used instead."""


def read_saved(path: str | Path | None = None) -> dict[str, Any] | None:
    """The saved payload, or None (with a ModelWarning) when missing, unreadable or stale."""
    import sklearn

    p = Path(path) if path else model_path()
    if not p.is_file():
        return None
    try:
        with open(p, "rb") as fh:
            payload = pickle.load(fh)  # our own file in the user's home
        if not isinstance(payload, dict) or not isinstance(payload.get("model"), CostModel):
            raise ValueError("not a costlens model file")
    except Exception as exc:  # any unpickling failure means: do not use it
        warnings.warn(
            f"{p} is unreadable ({type(exc).__name__}: {exc}); using the prior-only model. "
            "Run `costlens fit` to rebuild it.",
            ModelWarning,
            stacklevel=3,
        )
        return None
    if payload.get("sklearn_version") != sklearn.__version__:
        warnings.warn(
            f"{p} was saved with scikit-learn {payload.get('sklearn_version')}, this is "
            f"{sklearn.__version__}; using the prior-only model. Run `costlens fit` to refit.",
            ModelWarning,
            stacklevel=3,
        )
        return None
    return payload


def load_model(db: str | None = None) -> CostModel:
    """The saved fitted model, else the prior-only model.

    With ``db``, the model must match that store's runs (fingerprint); otherwise it is refitted
    from the store and saved.
    """
    payload = read_saved()
    if db is None:
        return payload["model"] if payload else prior_model()
    from costlens.store import open_store
    from costlens.store.queries import list_runs

    store = open_store(db)
    try:
        records = list_runs(store)
    finally:
        store.dispose()
    _, _, used = training_frame(records)
    if payload and payload.get("fingerprint") == runs_fingerprint(used):
        return payload["model"]
    model = fit_records(records)
    save_model(model)
    return model


# --------------------------------------------------------------------------------------------
# Estimating
# --------------------------------------------------------------------------------------------

_FLOAT_FIELDS = (
    "params", "tokens", "trainable_fraction", "labelled_samples", "usd_per_label", "n_layers",
    "d_model", "seq_len", "tokens_per_step", "epochs",
)  # fmt: skip


def _arrays(scenarios: Sequence[Scenario]) -> dict[str, np.ndarray]:
    cols: dict[str, np.ndarray] = {}
    for name in _FLOAT_FIELDS:
        cols[name] = np.array(
            [np.nan if (v := getattr(s, name)) is None else v for s in scenarios], dtype=float
        )
    for name in ("strategy", "gpu", "precision", "provider", "instance", "workload"):
        cols[name] = np.array([getattr(s, name) for s in scenarios], dtype=object)
    cols["gpus"] = np.array([s.gpus for s in scenarios], dtype=float)
    cols["spot"] = np.array([bool(s.spot) for s in scenarios], dtype=bool)
    return cols


def _validate(c: dict[str, np.ndarray], n: int) -> None:
    def bad(mask: np.ndarray, msg: str) -> None:
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            where = f" (scenario {i + 1} of {n})" if n > 1 else ""
            raise EstimatorError(msg.format(v=_show(c, msg, i)) + where)

    bad(~(c["params"] > 0), "params must be a positive number of parameters (got {v}).")
    bad(~(c["tokens"] >= 1), "tokens must be at least 1 token or sample (got {v}).")
    bad(~np.isin(c["strategy"], ESTIMABLE_STRATEGIES), "strategy {v} is unknown; choose one of "
        + ", ".join(ESTIMABLE_STRATEGIES) + ".")  # fmt: skip
    bad(~np.isin(c["precision"], PRECISIONS), "precision {v} is unknown; choose one of "
        + ", ".join(PRECISIONS) + ".")  # fmt: skip
    bad(~((c["gpus"] >= 1) & (c["gpus"] == np.floor(c["gpus"]))), "gpus must be a whole number "
        ">= 1 (got {v}).")  # fmt: skip
    f = c["trainable_fraction"]
    bad(~np.isnan(f) & ~((f > 0) & (f <= 1)), "trainable_fraction must be in (0, 1] (got {v}).")
    for name in ("labelled_samples", "usd_per_label"):
        bad(c[name] < 0, name + " must not be negative (got {v}).")
    for name in ("n_layers", "d_model", "seq_len", "tokens_per_step", "epochs"):
        bad(c[name] <= 0, name + " must be positive (got {v}).")


def _show(c: dict[str, np.ndarray], msg: str, i: int) -> str:
    name = msg.split(" ", 1)[0]
    return repr(c[name][i].item() if hasattr(c[name][i], "item") else c[name][i])


def _gpu_lookup(
    gpus: np.ndarray, precisions: np.ndarray, prices: PriceTable
) -> dict[str, np.ndarray]:
    keys = np.empty(len(gpus), dtype=object)
    peak = np.empty(len(gpus))
    tdp = np.empty(len(gpus))
    cache: dict[tuple[str, str], tuple[str, float, float]] = {}
    for i, (g, p) in enumerate(zip(gpus, precisions, strict=True)):
        k = (g, p)
        if k not in cache:
            spec = prices.spec(g)
            pk = spec.peak_for(p)
            if pk is None and spec.key != CPU_KEY:
                raise EstimatorError(
                    f"{spec.key} has no {p} peak in the spec table; choose another --precision."
                )
            cache[k] = (spec.key, float(pk) if pk else np.nan, float(spec.tdp_w or np.nan))
        keys[i], peak[i], tdp[i] = cache[k]
    return {"key": keys, "peak": peak, "tdp_w": tdp}


def _price_lookup(
    keys: np.ndarray, c: dict[str, np.ndarray], prices: PriceTable
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(keys)
    rate = np.full(n, np.nan)
    prov = np.empty(n, dtype=object)
    inst = np.empty(n, dtype=object)
    cache: dict[tuple, tuple[float, str, str]] = {}
    for i in range(n):
        k = (keys[i], int(c["gpus"][i]), c["provider"][i], c["instance"][i], bool(c["spot"][i]))
        if k not in cache:
            try:
                q = prices.cheapest(k[0], k[1], provider=k[2], spot=k[4], instance_type=k[3])
                cache[k] = (q.billed_usd_per_gpu_hour(k[1]), q.provider, q.instance_type)
            except PriceNotFoundError:
                if k[2] or k[3]:  # the user asked for this provider / instance: say so
                    raise
                cache[k] = (np.nan, "", "")
        rate[i], prov[i], inst[i] = cache[k]
    return rate, prov, inst


def estimate_many(
    scenarios: Sequence[Scenario],
    *,
    model: CostModel | None = None,
    prices: PriceTable | None = None,
    log_eff_offset: np.ndarray | None = None,
    flops: np.ndarray | None = None,
) -> list[Estimate]:
    """Estimates for many scenarios at once (vectorised; 10,000 in well under a second).

    ``flops`` overrides the physics FLOPs and ``log_eff_offset`` shifts the learned log FLOP/s
    (both used to scale a recorded run from its own measurements).
    """
    scenarios = list(scenarios)
    if not scenarios:
        return []
    prices = _table(prices)
    model = model if model is not None else load_model()
    check_is_fitted(model, "groups_")
    n = len(scenarios)
    c = _arrays(scenarios)
    _validate(c, n)
    gl = _gpu_lookup(c["gpu"], c["precision"], prices)
    priors = model.priors_
    frac = c["trainable_fraction"].copy()
    for strat in ("lora", "frozen-features"):
        m = (c["strategy"] == strat) & np.isnan(frac)
        if m.any():
            frac[m] = default_trainable_fraction(strat, priors)
    total_flops = (
        np.asarray(flops, dtype=float)
        if flops is not None
        else strategy_flops(
            c["params"], c["tokens"], c["strategy"], trainable_fraction=frac,
            n_layers=c["n_layers"], d_model=c["d_model"], seq_len=c["seq_len"], epochs=c["epochs"],
        )
    )  # fmt: skip
    X = pd.DataFrame(
        {
            "accelerator": gl["key"],
            "precision": c["precision"],
            "strategy": c["strategy"],
            "workload": [w or "" for w in c["workload"]],
            "params": c["params"],
            "tokens_per_step": c["tokens_per_step"],
            "world_size": c["gpus"],
            "peak_flops_per_s": gl["peak"],
        }
    )
    mean, lo, hi, extrap = model.predict_interval(X)
    if log_eff_offset is not None:
        off = np.asarray(log_eff_offset, dtype=float)
        mean, lo, hi = mean + off, lo + off, hi + off
        peak_log = np.log(gl["peak"])
        ok = np.isfinite(peak_log)
        for arr in (mean, lo, hi):
            arr[ok] = np.minimum(arr[ok], peak_log[ok])
    gpus = c["gpus"]
    thr = np.exp(mean)
    wall_h = total_flops / (thr * gpus) / 3600.0
    wall_lo = total_flops / (np.exp(hi) * gpus) / 3600.0
    wall_hi = total_flops / (np.exp(lo) * gpus) / 3600.0
    rate, prov, inst = _price_lookup(gl["key"], c, prices)
    labels = np.nan_to_num(c["labelled_samples"] * c["usd_per_label"], nan=0.0)
    e_mid, e_lo, e_hi, e_basis = _energy(model, gl, c, total_flops, wall_h, wall_lo, wall_hi)
    mfu = np.where(np.isfinite(gl["peak"]), thr / gl["peak"], np.nan)
    cost, cost_lo, cost_hi = wall_h * gpus * rate, wall_lo * gpus * rate, wall_hi * gpus * rate
    basis = np.where(np.isfinite(gl["peak"]), "mfu", "flops_per_s")
    out = []
    for i in range(n):
        out.append(
            Estimate(
                strategy=c["strategy"][i],
                flops=float(total_flops[i]),
                wall_hours=float(wall_h[i]),
                wall_hours_low=float(wall_lo[i]),
                wall_hours_high=float(wall_hi[i]),
                gpu_hours=float(wall_h[i] * gpus[i]),
                gpu_hours_low=float(wall_lo[i] * gpus[i]),
                gpu_hours_high=float(wall_hi[i] * gpus[i]),
                cost_usd=float(cost[i]),
                cost_usd_low=float(cost_lo[i]),
                cost_usd_high=float(cost_hi[i]),
                energy_kwh=float(e_mid[i]),
                energy_kwh_low=float(e_lo[i]),
                energy_kwh_high=float(e_hi[i]),
                label_cost_usd=float(labels[i]),
                total_cost_usd=float(cost[i] + labels[i]),
                total_cost_usd_low=float(cost_lo[i] + labels[i]),
                total_cost_usd_high=float(cost_hi[i] + labels[i]),
                mfu_assumed=float(mfu[i]),
                extrapolation=bool(extrap[i]),
                provider=str(prov[i]),
                instance_type=str(inst[i]),
                usd_per_gpu_hour=float(rate[i]),
                spot=bool(c["spot"][i]),
                gpu=str(gl["key"][i]),
                gpus=int(gpus[i]),
                precision=str(c["precision"][i]),
                flops_per_s_per_device=float(thr[i]),
                energy_basis=str(e_basis[i]),
                efficiency_basis=str(basis[i]),
            )
        )
    return out


def _energy(model, gl, c, flops, wall_h, wall_lo, wall_hi):
    """kWh: measured J/FLOP of recorded runs on the same accelerator and precision where
    available, else TDP x devices x hours (an upper bound); NaN when neither is known."""
    n = len(flops)
    mid, lo, hi = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    basis = np.full(n, "unknown", dtype=object)
    tdp_kw = gl["tdp_w"] * c["gpus"] / 1000.0
    has_tdp = np.isfinite(tdp_kw)
    mid[has_tdp] = (tdp_kw * wall_h)[has_tdp]
    lo[has_tdp] = (tdp_kw * wall_lo)[has_tdp]
    hi[has_tdp] = (tdp_kw * wall_hi)[has_tdp]
    basis[has_tdp] = "tdp_upper_bound"
    table = getattr(model, "energy_", {}) or {}
    if table:
        for i in range(n):
            e = table.get((gl["key"][i], c["precision"][i]))
            if e is not None:
                mid[i], lo[i], hi[i] = (v * flops[i] / 3.6e6 for v in e)
                basis[i] = "measured_j_per_flop"
    return mid, lo, hi, basis


def estimate(
    s: Scenario, *, model: CostModel | None = None, prices: PriceTable | None = None
) -> Estimate:
    """One scenario's estimate (see :func:`estimate_many`)."""
    return estimate_many([s], model=model, prices=prices)[0]


def scenario_from_run(
    record: dict,
    *,
    scale_tokens: float = 1.0,
    scale_params: float = 1.0,
    prices: PriceTable | None = None,
    **overrides: Any,
) -> Scenario:
    """A recorded run scaled: params x scale_params, tokens x scale_tokens, same hardware."""
    if not scale_tokens > 0 or not scale_params > 0:
        raise EstimatorError("--scale-tokens and --scale-params must be positive.")
    if not usable_runs([record]):
        raise EstimatorError(
            f"run {record['id'][:12]} cannot anchor an estimate: it needs status completed, "
            f"FLOPs > 0 and a duration (it has {record.get('status')}, "
            f"{record.get('flops')} FLOPs, {record.get('duration_s')} s)."
        )
    if not record.get("params_total"):
        raise EstimatorError(f"run {record['id'][:12]} has no parameter count to scale.")
    units = record.get("tokens") or record.get("samples") or 0
    steps = record.get("steps") or 0
    n_dev = run_devices(record)
    strategy = record.get("strategy")
    fraction = None
    if record.get("params_trainable") and strategy in ("lora", "frozen-features"):
        fraction = min(record["params_trainable"] / record["params_total"], 1.0)
    fields = {
        "params": float(record["params_total"]) * scale_params,
        "tokens": max(float(units or record["flops"] / (6.0 * record["params_total"])), 1.0)
        * scale_tokens,
        "strategy": strategy if strategy in ESTIMABLE_STRATEGIES else "scratch",
        "gpu": run_accelerator(record, prices),
        "gpus": n_dev,
        "precision": record.get("precision") or "fp32",
        "trainable_fraction": fraction,
        "tokens_per_step": units / steps / n_dev if units and steps else None,
        "workload": record.get("name") or None,
        "provider": record.get("provider"),
    }
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return Scenario(**fields)


def estimate_from_run(
    record: dict,
    *,
    scale_tokens: float = 1.0,
    scale_params: float = 1.0,
    model: CostModel | None = None,
    prices: PriceTable | None = None,
    **overrides: Any,
) -> Estimate:
    """Scale a recorded run, anchored on its own measured FLOPs and throughput.

    FLOPs = the run's model FLOPs (:func:`model_flops`) x scale_tokens x scale_params. On the
    run's own hardware the throughput is the run's measured FLOP/s per device times the model's
    predicted change from the run's configuration to the scaled one; on other hardware the model
    predicts it afresh.
    """
    prices = _table(prices)
    model = model if model is not None else load_model()
    s = scenario_from_run(
        record, scale_tokens=scale_tokens, scale_params=scale_params, prices=prices, **overrides
    )
    base = scenario_from_run(record, prices=prices)
    flops = np.array([model_flops(record) * scale_tokens * scale_params])
    offset = None
    if prices.resolve(s.gpu) == prices.resolve(base.gpu) and s.precision == base.precision:
        offset = np.array([run_anchor_offset(record, model=model, prices=prices)])
    return estimate_many([s], model=model, prices=prices, log_eff_offset=offset, flops=flops)[0]


def run_anchor_offset(record: dict, *, model: CostModel, prices: PriceTable | None = None) -> float:
    """log(measured FLOP/s of the run) - log(the model's prediction for the run's own config):
    added to predictions on the run's hardware, it anchors them on the run's measured speed."""
    prices = _table(prices)
    base = scenario_from_run(record, prices=prices)
    measured = math.log(model_flops(record) / record["duration_s"] / run_devices(record))
    est_base = estimate_many([base], model=model, prices=prices)[0]
    return measured - math.log(est_base.flops_per_s_per_device)


# --------------------------------------------------------------------------------------------
# Comparing strategies
# --------------------------------------------------------------------------------------------


def compare(
    s: Scenario,
    *,
    model: CostModel | None = None,
    prices: PriceTable | None = None,
    scratch_tokens: float | None = None,
    scratch_labelled_samples: float | None = None,
    log_eff_offset: float | None = None,
) -> dict[str, Any]:
    """Every strategy side by side, with savings_usd and roi of each transfer strategy vs scratch.

    roi = (scratch total - transfer total) / transfer total (totals = compute + labels).
    Scratch uses ``scratch_tokens`` / ``scratch_labelled_samples`` when given (training from
    scratch usually needs more data), else the scenario's. ``break_even_jobs``: if you must
    pretrain the base model yourself (at the scratch compute cost P), transfer pays back after
    P / (scratch total - transfer total) downstream jobs (None when transfer is not cheaper).
    Low/high of savings assume both strategies sit at the same efficiency percentile (same
    hardware and software), i.e. comonotone bounds. ``log_eff_offset`` shifts every strategy's
    log FLOP/s (``run_anchor_offset``: anchoring on a recorded run).
    """
    model = model if model is not None else load_model()
    priors = model.priors_ if hasattr(model, "priors_") else load_priors()
    scen = []
    for strat in ESTIMABLE_STRATEGIES:
        kw: dict[str, Any] = {"strategy": strat}
        if strat == "scratch":
            kw["tokens"] = scratch_tokens or s.tokens
            kw["labelled_samples"] = (
                scratch_labelled_samples
                if scratch_labelled_samples is not None
                else s.labelled_samples
            )
            kw["trainable_fraction"] = None
        elif strat == "full-finetune":
            kw["trainable_fraction"] = None
        elif strat != s.strategy or s.trainable_fraction is None:
            kw["trainable_fraction"] = default_trainable_fraction(strat, priors)
        scen.append(dataclasses.replace(s, **kw))
    offset = None if log_eff_offset is None else np.full(len(scen), float(log_eff_offset))
    ests = estimate_many(scen, model=model, prices=prices, log_eff_offset=offset)
    scratch = ests[0]
    rows = []
    for e in ests:
        d = e.as_dict()
        if e.strategy != "scratch":
            d.update(_savings(scratch, e))
        rows.append(d)
    transfer = [r for r in rows if r["strategy"] != "scratch" and r.get("savings_usd") is not None]
    own = next((r for r in rows if r["strategy"] == s.strategy), None)
    pick = own if own is not None and own["strategy"] != "scratch" else None
    if pick is None and transfer:
        pick = max(transfer, key=lambda r: r["savings_usd"])
    result: dict[str, Any] = {
        "strategies": rows,
        "compared_strategy": pick["strategy"] if pick else None,
        "savings_usd": pick.get("savings_usd") if pick else None,
        "savings_usd_low": pick.get("savings_usd_low") if pick else None,
        "savings_usd_high": pick.get("savings_usd_high") if pick else None,
        "roi": pick.get("roi") if pick else None,
        "break_even_jobs": pick.get("break_even_jobs") if pick else None,
        "best_strategy": min(
            (r for r in rows if r["total_cost_usd"] is not None),
            key=lambda r: r["total_cost_usd"],
            default={"strategy": None},
        )["strategy"],
    }
    return result


def _savings(scratch: Estimate, t: Estimate) -> dict[str, Any]:
    def f(v: float) -> float | None:
        return float(v) if math.isfinite(v) else None

    save = scratch.total_cost_usd - t.total_cost_usd
    roi = save / t.total_cost_usd if t.total_cost_usd > 0 else math.nan
    be = scratch.cost_usd / save if save > 0 else math.nan
    return {
        "savings_usd": f(save),
        "savings_usd_low": f(scratch.total_cost_usd_low - t.total_cost_usd_low),
        "savings_usd_high": f(scratch.total_cost_usd_high - t.total_cost_usd_high),
        "roi": f(roi),
        "break_even_jobs": f(be),
        "savings_gpu_hours": f(scratch.gpu_hours - t.gpu_hours),
    }
