"""Scaling a recorded run: its scenario, and estimates anchored on its own measured speed."""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from costlens.core.errors import EstimatorError
from costlens.core.vocab import DEFAULT_PRECISION
from costlens.estimator.persistence import load_model
from costlens.estimator.predict import estimate_many
from costlens.estimator.training import (
    model_flops,
    run_accelerator,
    run_devices,
    run_strategy,
    run_trainable_fraction,
    usable_runs,
)
from costlens.estimator.types import Estimate, Scenario, price_table

if TYPE_CHECKING:
    from costlens.estimator.model import CostModel
    from costlens.price.tables import PriceTable
    from costlens.store.models import RunRecord


def scenario_from_run(
    record: RunRecord,
    *,
    scale_tokens: float = 1.0,
    scale_params: float = 1.0,
    prices: PriceTable | None = None,
    **overrides: Any,
) -> Scenario:
    """A recorded run scaled: params x scale_params, tokens x scale_tokens, same hardware.

    ``overrides`` replace Scenario fields (None values are ignored).
    """
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
    fields = {
        "params": float(record["params_total"]) * scale_params,
        "tokens": max(float(units or record["flops"] / (6.0 * record["params_total"])), 1.0)
        * scale_tokens,
        "strategy": run_strategy(record),
        "gpu": run_accelerator(record, prices),
        "gpus": n_dev,
        "precision": record.get("precision") or DEFAULT_PRECISION,
        "trainable_fraction": run_trainable_fraction(record),
        "tokens_per_step": units / steps / n_dev if units and steps else None,
        "workload": record.get("name") or None,
        "provider": record.get("provider"),
    }
    fields.update({k: v for k, v in overrides.items() if v is not None})
    return Scenario(**fields)


def estimate_from_run(
    record: RunRecord,
    *,
    scale_tokens: float = 1.0,
    scale_params: float = 1.0,
    model: CostModel | None = None,
    prices: PriceTable | None = None,
    **overrides: Any,
) -> Estimate:
    """Scale a recorded run, anchored on its own measured FLOPs and throughput.

    Times: the run's model FLOPs (:func:`model_flops`) x scale_tokens x scale_params, over a
    throughput that is, on the run's own hardware, the run's measured FLOP/s per device times the
    model's predicted change from the run's configuration to the scaled one (elsewhere the model
    predicts it afresh). Reported ``flops``: on the run's measured basis (its recorded FLOPs x
    the scales; at scale 1 exactly the recorded FLOPs); ``model_flops`` beside it.
    """
    prices = price_table(prices)
    model = model if model is not None else load_model()
    s = scenario_from_run(
        record, scale_tokens=scale_tokens, scale_params=scale_params, prices=prices, **overrides
    )
    scale = scale_tokens * scale_params
    flops = np.array([model_flops(record) * scale])
    anchor = run_anchor_for(record, s, model=model, prices=prices)
    offset = None if anchor is None else np.array([anchor])
    out = estimate_many([s], model=model, prices=prices, log_eff_offset=offset, flops=flops)[0]
    return dataclasses.replace(
        out,
        flops=float(record["flops"]) * scale,
        model_flops=float(flops[0]),
        flops_basis=f"measured: the run's recorded FLOPs x {scale:g}; {model_flops_basis(record)}",
    )


def model_flops_basis(record: dict) -> str:
    """How :func:`model_flops` counted the run, in words: 6N per token (or sample) only when the
    run recorded its data and parameters, else its measured FLOPs (no "per token" for a run of 0
    tokens)."""
    unit = "token" if record.get("tokens") else "sample" if record.get("samples") else None
    if unit and record.get("params_total"):
        return f"model_flops: 6N (4N + 2fN for LoRA) per {unit} of the run's parameters and data"
    missing = "token or sample count" if not unit else "parameter count"
    return f"model_flops: the run's measured FLOPs (no {missing} recorded)"


def run_anchor_for(
    record: RunRecord, scenario: Scenario, *, model: CostModel, prices: PriceTable | None = None
) -> float | None:
    """:func:`run_anchor_offset` when ``scenario`` runs on the run's own accelerator and
    precision, else None (other hardware: the model predicts afresh)."""
    prices = price_table(prices)
    base = scenario_from_run(record, prices=prices)
    same = prices.resolve(scenario.gpu) == prices.resolve(base.gpu)
    if not (same and scenario.precision == base.precision):
        return None
    return run_anchor_offset(record, model=model, prices=prices)


def run_anchor_offset(
    record: RunRecord, *, model: CostModel, prices: PriceTable | None = None
) -> float:
    """log(measured FLOP/s of the run) - log(the model's prediction for the run's own config):
    added to predictions on the run's hardware, it anchors them on the run's measured speed."""
    prices = price_table(prices)
    base = scenario_from_run(record, prices=prices)
    measured = math.log(model_flops(record) / record["duration_s"] / run_devices(record))
    est_base = estimate_many([base], model=model, prices=prices)[0]
    return measured - math.log(est_base.flops_per_s_per_device)
