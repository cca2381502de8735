"""The model's feature frame: the columns of ``X``, their cleaning and the ridge design matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from costlens.core.errors import EstimatorError

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
# Optional columns (NaN when absent): the cold start's job shape, and measured energy.
OPTIONAL = ("tokens", "seq_len", "trainable_fraction", "energy_j_per_flop")
CONTINUOUS = ("log_params", "log_tokens_per_step", "log_world_size")
_NUMERIC = ("params", "tokens_per_step", "world_size", "peak_flops_per_s")


def as_frame(X: Any) -> pd.DataFrame:
    """``X`` (a DataFrame with the :data:`FEATURES` columns, or a 2-D array in that order) as a
    clean frame; full fine-tuning counts as scratch (the same computation; ``fine_tune`` keeps
    the difference for the cold start's support counts). Optional :data:`OPTIONAL` columns are
    kept (NaN when absent; ``energy_j_per_flop`` only when given)."""
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
            "strategy": frame["strategy"]
            .astype(str)
            .replace("full-finetune", "scratch")
            .to_numpy(),
            "workload": frame["workload"].fillna("").astype(str).to_numpy(),
            **{c: _numeric(frame[c]) for c in _NUMERIC},
        }
    )
    for col in OPTIONAL:
        if col in frame.columns:
            out[col] = _numeric(frame[col])
        elif col != "energy_j_per_flop":
            out[col] = np.full(len(out), np.nan)
    out["fine_tune"] = frame["strategy"].astype(str).to_numpy() != "scratch"
    return out


def _numeric(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)


def continuous(frame: pd.DataFrame) -> np.ndarray:
    """The :data:`CONTINUOUS` columns (natural logs; NaN where unknown), one row per run."""
    with np.errstate(divide="ignore", invalid="ignore"):
        params = np.log(frame["params"].to_numpy(dtype=float))
        tps = np.log(frame["tokens_per_step"].to_numpy(dtype=float))
        ws = np.log(np.clip(frame["world_size"].to_numpy(dtype=float), 1, None))
    cont = np.column_stack([params, tps, ws])
    return np.where(np.isfinite(cont), cont, np.nan)


def design(
    frame: pd.DataFrame,
    filled: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    strategies: list[str],
    workloads: list[str],
    workload_share: np.ndarray | None = None,
) -> np.ndarray:
    """The ridge design: intercept, one-hot strategy and workload (when a group has several),
    standardised continuous columns. A workload not in ``workloads`` (a scenario naming no
    script, or another one) takes ``workload_share`` (the recorded runs' share of each, so it
    runs like the average recorded run) where given, else zeros."""
    n = len(frame)
    strat = frame["strategy"].to_numpy()
    work = frame["workload"].to_numpy()
    cols = [np.ones((n, 1))]
    if len(strategies) > 1:
        cols.append((strat[:, None] == np.array(strategies, dtype=object)[None, :]).astype(float))
    if len(workloads) > 1:
        onehot = (work[:, None] == np.array(workloads, dtype=object)[None, :]).astype(float)
        if workload_share is not None:
            onehot[onehot.sum(axis=1) == 0] = workload_share
        cols.append(onehot)
    cols.append((filled - center) / scale)
    return np.hstack(cols)


def energy_table(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float, float]]:
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
