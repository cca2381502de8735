"""The cold start: model FLOPs utilisation (log MFU) learned from published training runs.

Before a team has recorded any run, the estimator's efficiency comes from here. The training
data is ``data/published_runs.csv`` (GPU-hours from papers and model cards, see
``costlens.price.tables.published``); the target is log MFU = log(FLOPs / (GPU-seconds x peak)),
with FLOPs counted as the estimator counts them (``physics.strategy_flops``, attention term included
where the sequence length is known, the shape derived by ``physics.SHAPE_RULE``).

:class:`ColdStart` is a scikit-learn estimator: a Pipeline of a ColumnTransformer (median
imputation and scaling for the numbers, one-hot for the words) and
RidgeCV. Its 80% interval is split-conformal on leave-one-family-out residuals (a family's runs,
e.g. all Llama 2 sizes, are held out together, so no run is predicted from its siblings), and it
widens, with a reason, where the published runs are few (GPU peak, precision, strategy) or the
scenario lies outside their range (parameters, GPU count, tokens per GPU).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from functools import lru_cache, partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from costlens.core.errors import EstimatorError
from costlens.core.physics import strategy_flops, transformer_shape
from costlens.core.units import S_PER_H
from costlens.core.vocab import COVERAGE
from costlens.price.tables.published import PublishedRun

NUMERIC = ("log_peak", "log_params", "log_tokens_per_gpu", "log_seq_len", "share")
# Model inputs; precision enters through the peak (log_peak), the GPU generation (``arch``, the
# spec table's ``architecture``) as its own effect: one-hot under the ridge penalty, so a
# generation with few published runs is shrunk towards the mean of all of them.
CATEGORIES = ("strategy", "arch")
# ``includes`` (what a published figure counts) is learned in a second fit, for the overhead of
# a bill over compute (``overhead_``); as an input it made the benchmark worse (BENCHMARKS.md).
BILLED, COMPUTE = "wall-clock", "compute"
SUPPORT = ("precision", "strategy", "job", "arch")  # thin categories widen the interval
RANGED = ("log_params", "log_tokens_per_gpu")  # outside the runs' range: widen
# Held at the runs' range when predicting (no extrapolated trend): a trainable share below any
# published run's does not raise the MFU further.
CLIPPED = ("log_peak", *RANGED, "share")
UNKNOWN_ARCH = "unknown"
# One-hot columns scaled by this before the ridge (a generation shrunk less than a number); chosen
# on the leave-one-family-out benchmark among 1, 2, 3, 5 (not nested: slightly optimistic).
CAT_SCALE = 3.0
ALPHAS = tuple(np.logspace(-2, 3, 11))
FINITE_SAMPLE = False
MIN_SUPPORT = 5  # fewer published runs with this GPU peak / precision / strategy: widen


def cold_features(
    *,
    peak_flops_per_s: Any,
    precision: Any,
    strategy: Any,
    params: Any,
    gpus: Any,
    tokens: Any,
    seq_len: Any = None,
    trainable_fraction: Any = None,
    architecture: Any = None,
    includes: Any = BILLED,
) -> pd.DataFrame:
    """The cold start's inputs, one row per job (NaN where unknown: the training median).
    Full fine-tuning counts as scratch (the same computation); ``share`` is the trainable share
    (1 when all parameters train); ``architecture`` the GPU generation (None: unknown);
    ``includes`` what the hours count (``BILLED``: what a bill shows)."""
    n = len(np.atleast_1d(np.asarray(params, dtype=float)))

    def arr(v: Any, fill: float = np.nan) -> np.ndarray:
        if v is None:
            return np.full(n, fill)
        return np.broadcast_to(np.asarray(v, dtype=float), (n,)).astype(float)

    with np.errstate(divide="ignore", invalid="ignore"):
        gp = arr(gpus)
        frame = pd.DataFrame(
            {
                "log_peak": np.log(arr(peak_flops_per_s)),
                "log_params": np.log(arr(params)),
                "log_gpus": np.log(gp),
                "log_tokens_per_gpu": np.log(arr(tokens) / gp),
                "log_seq_len": np.log(arr(seq_len)),
                "share": np.where(np.isfinite(arr(trainable_fraction)), arr(trainable_fraction), 1),
                "precision": np.broadcast_to(np.asarray(precision, dtype=object), (n,)),
                "strategy": np.broadcast_to(np.asarray(strategy, dtype=object), (n,)),
                "includes": np.broadcast_to(np.asarray(includes, dtype=object), (n,)),
                "arch": np.broadcast_to(
                    np.asarray(
                        UNKNOWN_ARCH if architecture is None else architecture, dtype=object
                    ),
                    (n,),
                ),
            }
        )
    frame["job"] = np.where(frame["strategy"].astype(str) == "scratch", "pretraining", "fine-tune")
    frame["strategy"] = frame["strategy"].astype(str).replace("full-finetune", "scratch")
    frame["precision"] = frame["precision"].astype(str)
    frame["arch"] = [str(a) if a else UNKNOWN_ARCH for a in frame["arch"]]
    num = frame[list(NUMERIC)].to_numpy()
    frame[list(NUMERIC)] = np.where(np.isfinite(num), num, np.nan)
    return frame


def job_flops(
    params: Any, tokens: Any, strategy: Any, seq_len: Any = None, trainable_fraction: Any = None
) -> np.ndarray:
    """Training FLOPs as the estimator counts them: ``strategy_flops`` with the attention term
    where ``seq_len`` is known (shape derived from the parameters)."""
    seq = np.asarray(np.nan if seq_len is None else seq_len, dtype=float)
    layers, width = transformer_shape(params)
    has = np.isfinite(seq)
    return strategy_flops(
        params, tokens, strategy, trainable_fraction=trainable_fraction,
        n_layers=np.where(has, layers, np.nan), d_model=np.where(has, width, np.nan),
        seq_len=np.where(has, seq, np.nan),
    )  # fmt: skip


def unknown_gpu_count(run: PublishedRun, runs: Sequence[PublishedRun]) -> int:
    """A GPU count for a published ``run`` that gives none: the one at which its tokens per GPU
    are the median of ``runs`` that give a count (what the fit imputes for such runs; never
    derived from the GPU-hours)."""
    per_gpu = [r.tokens / r.gpu_count for r in runs if r.gpu_count]
    return max(1, round(run.tokens / float(np.median(per_gpu)))) if per_gpu else 1


def published_training_data(
    runs: Sequence[PublishedRun], peaks: dict[str, float], archs: dict[str, str] | None = None
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(features, log MFU, family) of published runs; ``peaks`` maps ``gpu|precision`` to the
    dense peak FLOP/s. A run without a GPU count has NaN tokens per GPU: the fit imputes the
    median (as :func:`unknown_gpu_count` prices it)."""
    peak = np.array([peaks[f"{r.gpu}|{r.precision}"] for r in runs])
    attr = {k: [getattr(r, k) for r in runs] for k in ("params", "tokens", "strategy")}
    seq = np.array([np.nan if r.seq_len is None else r.seq_len for r in runs])
    share = np.array([r.trainable_fraction or np.nan for r in runs])
    gpus = np.array([np.nan if r.gpu_count is None else r.gpu_count for r in runs])
    X = cold_features(
        peak_flops_per_s=peak, precision=[r.precision for r in runs], strategy=attr["strategy"],
        params=attr["params"], gpus=gpus, tokens=attr["tokens"], seq_len=seq,
        trainable_fraction=share, architecture=[(archs or {}).get(r.gpu) for r in runs],
        includes=[getattr(r, "includes", "unknown") for r in runs],
    )  # fmt: skip
    flops = job_flops(attr["params"], attr["tokens"], attr["strategy"], seq, share)
    gpu_s = np.array([r.gpu_hours for r in runs]) * S_PER_H
    return X, np.log(flops / (gpu_s * peak)), np.array([r.family for r in runs], dtype=object)


def _scaled(x: Any, scale: float) -> Any:
    return x * scale


def _pipeline(
    alphas: Sequence[float], categories: Sequence[str] = CATEGORIES, cat_scale: float = 1.0
) -> Pipeline:
    """Ridge on scaled numbers and one-hot words; ``cat_scale`` > 1 shrinks the words' effects
    (a generation, a strategy) less than the penalty shrinks the numbers'."""
    numbers = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
    )
    words = make_pipeline(
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        FunctionTransformer(partial(_scaled, scale=cat_scale)),
    )
    prep = ColumnTransformer([("num", numbers, list(NUMERIC)), ("cat", words, list(categories))])
    return Pipeline([("prep", prep), ("ridge", RidgeCV(alphas=list(alphas)))])


def conformal_tails(resid: np.ndarray, coverage: float) -> tuple[float, float]:
    """Split-conformal tails of residuals: the ceil((n+1)(1-a/2))-th order statistics, so that
    a new residual falls inside with probability >= ``coverage`` (a = 1 - coverage)."""
    r = np.sort(resid[np.isfinite(resid)])
    n = len(r)
    if n < 2:
        raise EstimatorError("the cold start needs at least 2 published runs to calibrate.")
    tail = (1.0 - coverage) / 2.0
    if not FINITE_SAMPLE:
        lo, hi = np.quantile(r, [tail, 1.0 - tail])
        return float(lo), float(hi)
    k_hi = min(math.ceil((n + 1) * (1.0 - tail)), n) - 1
    k_lo = max(math.floor((n + 1) * tail), 1) - 1
    return float(r[k_lo]), float(r[k_hi])


def _supported_low(values: np.ndarray, min_support: int) -> float:
    """The lowest value that ``min_support`` runs reach (their largest value when fewer do)."""
    v = np.sort(values[np.isfinite(values)])
    return float(v[min(min_support, len(v)) - 1]) if len(v) else math.nan


class ColdStart(RegressorMixin, BaseEstimator):
    """Log MFU of a training job from its shape, learned from published runs (see module doc).

    ``fit(X, y, groups)``: X from :func:`cold_features`, y log MFU, groups the model family
    (residuals for the interval are leave-one-group-out). ``predict_interval`` gives (median,
    low, high, reasons) in log MFU; ``reasons`` is one text per row ("" inside the data).
    """

    __module__ = "costlens.estimator"

    def __init__(
        self,
        *,
        coverage: float = COVERAGE,
        alphas: Sequence[float] = ALPHAS,
        min_support: int = MIN_SUPPORT,
        widen: float = 0.5,
        categories: Sequence[str] = CATEGORIES,
        clipped: Sequence[str] = CLIPPED,
        cat_scale: float = CAT_SCALE,
    ) -> None:
        self.coverage = coverage
        self.alphas = alphas
        self.min_support = min_support
        self.widen = widen
        self.categories = categories  # the benchmark compares alternatives through these two
        self.clipped = clipped
        self.cat_scale = cat_scale

    def fit(self, X: pd.DataFrame, y: Any, groups: Any) -> ColdStart:
        y = np.asarray(y, dtype=float)
        groups = np.asarray(groups, dtype=object)
        if not np.all(np.isfinite(y)):
            raise EstimatorError("log MFU of the published runs must be finite.")
        self.pipeline_ = _pipeline(self.alphas, self.categories, self.cat_scale).fit(X, y)
        if len(set(groups)) >= 3:
            pipe = _pipeline(self.alphas, self.categories, self.cat_scale)
            loo = cross_val_predict(pipe, X, y, groups=groups, cv=LeaveOneGroupOut())
        else:
            loo = np.full(len(y), y.mean())
        self.loo_residuals_ = y - loo
        self.resid_lo_, self.resid_hi_ = conformal_tails(self.loo_residuals_, self.coverage)
        # Pretraining has its own tails when it has enough runs (fine-tunes are noisier).
        pre = X["job"].to_numpy() == "pretraining"
        self.pre_tails_ = (
            conformal_tails(self.loo_residuals_[pre], self.coverage)
            if pre.sum() >= 2 * self.min_support
            else (self.resid_lo_, self.resid_hi_)
        )
        self.peaks_ = np.round(X["log_peak"].to_numpy(), 2)
        self.counts_ = {c: X[c].value_counts().to_dict() for c in SUPPORT}
        ranged = X[list(self.clipped)].to_numpy()
        self.lo_ = np.nanmin(ranged, axis=0)
        self.hi_ = np.nanmax(ranged, axis=0)
        if "share" in self.clipped:  # bounded where min_support runs are: one LoRA sets no trend
            j = list(self.clipped).index("share")
            self.lo_[j] = _supported_low(X["share"].to_numpy(dtype=float), self.min_support)
        self.n_runs_ = len(y)
        self.overhead_ = self._overhead(X, y)
        # No prediction is more efficient than the best tenth of the published runs (robust to
        # one outlying row, e.g. a token count that counts repeated epochs).
        self.log_mfu_cap_ = float(np.quantile(y, MFU_CAP_QUANTILE))
        self.log_mfu_max_ = float(y.max())  # nor is any interval's high end above the best run
        return self

    def _overhead(self, X: pd.DataFrame, y: np.ndarray) -> float:
        """Billed over compute-only hours (>= 1): the learned ``includes`` effect, wall-clock
        figures against compute-only ones (shrunk by the ridge where few rows say)."""
        if "includes" not in X or not {BILLED, COMPUTE} <= set(X["includes"]):
            return 1.0  # the table does not say which figures are compute only
        cats = (*self.categories, *(() if "includes" in self.categories else ("includes",)))
        fit = self.pipeline_ if cats == tuple(self.categories) else (
            _pipeline(self.alphas, cats, self.cat_scale).fit(X, y))  # fmt: skip
        row = X.iloc[:1].copy()
        billed, compute = (float(fit.predict(row.assign(includes=v))[0]) for v in (BILLED, COMPUTE))
        return max(1.0, math.exp(compute - billed))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Log MFU; :data:`CLIPPED` features are held at the published runs' range (beyond it
        the learned trend is not followed; the interval widens instead)."""
        check_is_fitted(self, "pipeline_")
        held = X.copy()
        for j, col in enumerate(self.clipped):
            held[col] = np.clip(X[col].to_numpy(dtype=float), self.lo_[j], self.hi_[j])
        return self.pipeline_.predict(held)

    def predict_interval(
        self, X: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """(median, low, high, reasons) of log MFU; the interval widens by ``widen`` per thin
        category and per e-fold outside the runs' range, and says why in ``reasons``."""
        mid = self.predict(X)
        factor = np.ones(len(X))
        reasons: list[list[str]] = [[] for _ in range(len(X))]
        peaks = np.round(X["log_peak"].to_numpy(), 2)
        for i, p in enumerate(peaks):
            n = int(np.sum(self.peaks_ == p))
            if n < self.min_support:
                factor[i] += self.widen
                reasons[i].append(f"{n} published runs on a GPU with this peak")
        for col in SUPPORT:
            for i, v in enumerate(X[col].to_numpy()):
                n = int(self.counts_[col].get(v, 0))
                if n < self.min_support:
                    factor[i] += self.widen
                    reasons[i].append(f"{n} published runs with {col} {v}")
        vals = X[list(self.clipped)].to_numpy(dtype=float)
        for j, col in enumerate(self.clipped):
            if col not in RANGED:
                continue
            out = np.nan_to_num(np.clip(self.lo_[j] - vals[:, j], 0, None)
                                + np.clip(vals[:, j] - self.hi_[j], 0, None))  # fmt: skip
            factor += self.widen * out
            for i in np.flatnonzero(out > 0.1):
                reasons[i].append(f"{col[4:]} outside the published runs' range")
        pre = X["job"].to_numpy() == "pretraining"
        lo = mid + np.where(pre, self.pre_tails_[0], self.resid_lo_) * factor
        hi = mid + np.where(pre, self.pre_tails_[1], self.resid_hi_) * factor
        # A linear model extrapolates past what published runs achieve (a LoRA on few rows reached
        # 100% MFU): the prediction is held at the best tenth of them, and the interval's high end
        # at the best of them.
        cap = self.log_mfu_cap_
        shift = np.clip(mid - cap, 0.0, None)
        for i in np.flatnonzero(shift > 0):
            reasons[i].append(
                f"predicted MFU above all but the best tenth of published runs: held at "
                f"{np.exp(cap):.0%}"
            )
        mid, lo = mid - shift, lo - shift
        hi = np.maximum(np.minimum(hi, self.log_mfu_max_), mid)
        return mid, lo, hi, ["; ".join(r) for r in reasons]


def peak_table(accelerators: Any) -> dict[str, float]:
    """``gpu|precision`` -> dense peak FLOP/s of every accelerator in the spec table."""
    return {f"{s.key}|{p}": v for s in accelerators.specs for p, v in s.peak_flops_per_s.items()}


def arch_table(accelerators: Any) -> dict[str, str]:
    """Accelerator key -> GPU generation (the spec table's ``architecture``; "" where none)."""
    return {s.key: getattr(s, "architecture", "") for s in accelerators.specs}


def fit_cold_start(runs: Sequence[PublishedRun], accelerators: Any, **params: Any) -> ColdStart:
    """A :class:`ColdStart` fitted on ``runs``; it keeps the key -> generation map (``archs_``)."""
    archs = arch_table(accelerators)
    X, y, groups = published_training_data(runs, peak_table(accelerators), archs)
    model = ColdStart(**params).fit(X, y, groups)
    model.archs_ = archs
    return model


COLD_START_FILE = "cold_start.pkl"  # in the costlens home: the fitted cold start, keyed
COLD_START_VERSION = 7  # part of the cache key: bump when the fitted object changes
MFU_CAP_QUANTILE = 0.9  # predictions are held at this quantile of the published runs' MFU


@lru_cache(maxsize=2)
def _shipped(published_stamp: int, specs_stamp: int) -> ColdStart:
    """Fitted once per version of the tables: from the home folder's cache file when its key
    matches (the fit takes about a second on a busy 2-core machine), else fitted and saved."""
    import pickle

    import sklearn

    from costlens.core.atomicio import write_bytes_atomic
    from costlens.core.errors import CostlensError
    from costlens.core.paths import home_dir
    from costlens.price.tables import shipped_accelerators
    from costlens.price.tables.published import published_runs

    key = (published_stamp, specs_stamp, sklearn.__version__, COLD_START_VERSION)
    try:
        path = home_dir() / COLD_START_FILE
        saved = pickle.loads(path.read_bytes()) if path.is_file() else None
    except (CostlensError, OSError, pickle.UnpicklingError, EOFError, AttributeError):
        path, saved = None, None  # an unreadable cache is refitted, never trusted
    if isinstance(saved, dict) and saved.get("key") == key:
        return saved["model"]
    model = fit_cold_start(published_runs(), shipped_accelerators())
    if path is not None:
        with contextlib.suppress(OSError):  # a read-only home: fit again next time
            write_bytes_atomic(path, pickle.dumps({"key": key, "model": model}))
    return model


def shipped_cold_start() -> ColdStart:
    """The cold start fitted on the shipped table, once per version of the tables (memo)."""
    from costlens.core.paths import data_dir
    from costlens.price.tables.accelerators import SPECS_FILE
    from costlens.price.tables.published import published_runs_path
    from costlens.price.tables.rows import file_stamp

    return _shipped(file_stamp(published_runs_path()), file_stamp(data_dir() / SPECS_FILE))
