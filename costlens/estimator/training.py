"""Recorded runs as training data: which runs count, their features and target, the fit."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from costlens.core.errors import UnknownAcceleratorError
from costlens.core.physics import strategy_flops
from costlens.core.vocab import CPU_KEY, DEFAULT_PRECISION, ESTIMABLE_STRATEGIES
from costlens.estimator.types import price_table

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from costlens.estimator.model import CostModel
    from costlens.price.tables import PriceTable
    from costlens.store.models import RunRecord

_PARTIAL = ("lora", "frozen-features")  # strategies that train a share of the parameters


def usable_runs(records: Iterable[dict]) -> list[dict]:
    """Completed runs with FLOPs > 0 and a duration: the ones the model can learn from."""
    return [
        r
        for r in records
        if r.get("status") == "completed"
        and (r.get("flops") or 0) > 0
        and (r.get("duration_s") or 0) > 0
    ]


def run_devices(record: RunRecord) -> int:
    """Devices a run used: its GPU count, else its world size (CPU processes), at least 1."""
    return max(int(record.get("device_count") or 0) or int(record.get("world_size") or 1), 1)


def run_accelerator(record: RunRecord, prices: PriceTable | None = None) -> str:
    """The catalog key of a run's device ("CPU" for host-only runs)."""
    name = record.get("device")
    if not name or int(record.get("device_count") or 0) == 0:
        return CPU_KEY
    return price_table(prices).resolve(name)


def run_strategy(record: RunRecord) -> str:
    """A run's strategy as the estimator prices it (unknown or "other": scratch)."""
    strategy = record.get("strategy")
    return strategy if strategy in ESTIMABLE_STRATEGIES else "scratch"


def run_trainable_fraction(record: RunRecord) -> float | None:
    """Trainable share of a LoRA / frozen-features run (None when not known or not partial)."""
    total, trainable = record.get("params_total"), record.get("params_trainable")
    if run_strategy(record) in _PARTIAL and total and trainable:
        return min(trainable / total, 1.0)
    return None


def training_frame(
    records: Iterable[dict], *, prices: PriceTable | None = None
) -> tuple[pd.DataFrame, np.ndarray, list[dict]]:
    """(X, y, used records) from run records; runs on unknown devices are skipped."""
    import numpy as np
    import pandas as pd

    from costlens.estimator.features import FEATURES

    prices = price_table(prices)
    rows, ys, used = [], [], []
    for r in usable_runs(records):
        try:
            key = run_accelerator(r, prices)
            peak = prices.spec(key).peak_for(r.get("precision") or DEFAULT_PRECISION)
        except UnknownAcceleratorError:
            continue
        n_dev = run_devices(r)
        rows.append(_run_features(r, key, peak, n_dev))
        ys.append(math.log(model_flops(r) / r["duration_s"] / n_dev))
        used.append(r)
    frame = pd.DataFrame(
        rows, columns=[*FEATURES, "tokens", "seq_len", "trainable_fraction", "energy_j_per_flop"]
    )
    return frame, np.array(ys, dtype=float), used


def model_flops(record: RunRecord) -> float:
    """A run's FLOPs as the estimator accounts them (``strategy_flops`` of its parameters, data,
    strategy and trainable share: "model FLOPs" as in PaLM's MFU); the profiler's measured FLOPs
    when the parameter count or the data size is unknown."""
    units = record.get("tokens") or record.get("samples") or 0
    n = record.get("params_total") or 0
    if not (units and n):
        return float(record["flops"])
    strategy = run_strategy(record)
    frac = run_trainable_fraction(record)
    if frac is None and strategy in _PARTIAL:
        strategy = "scratch"  # unknown share: count it as full training
    return float(strategy_flops(n, units, strategy, trainable_fraction=frac))


def _run_features(r: dict, key: str, peak: float | None, n_dev: int) -> dict[str, Any]:
    nan = float("nan")
    units = r.get("tokens") or r.get("samples") or 0
    steps = r.get("steps") or 0
    energy = r.get("energy_j")
    return {
        "accelerator": key,
        "precision": r.get("precision") or DEFAULT_PRECISION,
        "strategy": run_strategy(r),
        "workload": r.get("name") or "",
        "params": float(r.get("params_total") or nan),
        "tokens_per_step": units / steps / n_dev if units and steps else nan,
        "world_size": float(n_dev),
        "peak_flops_per_s": float(peak) if peak else nan,
        "tokens": float(units) if units else nan,
        "seq_len": nan,
        "trainable_fraction": run_trainable_fraction(r) or nan,
        "energy_j_per_flop": energy / model_flops(r) if energy and energy > 0 else nan,
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
    from costlens.estimator.model import CostModel

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
