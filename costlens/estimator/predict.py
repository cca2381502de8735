"""Estimates for many scenarios at once: FLOPs, throughput, hours, dollars and energy, vectorised.

Wall time = FLOPs / (per-device sustained FLOP/s x devices); the model gives the FLOP/s with its
interval, the price table the accelerator's peak, TDP and the billed rate (whole instances).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from costlens.core.errors import PriceNotFoundError, UsageError
from costlens.core.physics import SHAPE_RULE, strategy_flops, transformer_shape
from costlens.core.units import J_PER_KWH, S_PER_H, W_PER_KW
from costlens.core.vocab import CPU_KEY
from costlens.estimator.persistence import load_model
from costlens.estimator.priors import default_trainable_fraction
from costlens.estimator.scenarios import scenario_columns
from costlens.estimator.types import Estimate, Interval, Scenario, price_table

if TYPE_CHECKING:
    from costlens.estimator.model import CostModel
    from costlens.price.tables import PriceTable

# name -> one value per scenario (an array; an Interval figure: a (point, low, high) triple)
Columns = dict[str, Any]


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
    (both used to scale a recorded run from its own measurements). ``prices`` defaults to the
    price table in force; ``model`` to the saved (else prior-only) model.
    """
    scenarios = list(scenarios)
    if not scenarios:
        return []
    prices = price_table(prices)
    model = model if model is not None else load_model()
    check_is_fitted(model, "groups_")
    c = scenario_columns(with_default_precision(scenarios, prices))
    gl = _gpu_lookup(c["gpu"], c["precision"], prices)
    physics, basis = _physics_flops(c, model)
    total = physics if flops is None else np.asarray(flops, dtype=float)
    shares = {**c, "trainable_fraction": _trainable_fraction(c, model)}
    mean, lo, hi, why = _log_throughput(model, gl, shares, log_eff_offset)
    thr = np.exp(mean)
    cols = _hours_and_dollars(c, gl, total, thr, np.exp(lo), np.exp(hi), prices)
    cols["energy_kwh"], cols["energy_basis"] = _energy(model, gl, c, total, cols["wall_hours"])
    cols.update(_feasibility(c, shares["trainable_fraction"], gl, cols))
    has_peak = np.isfinite(gl["peak"])
    cols["billed_overhead"] = np.where(has_peak, _billed_overhead(model), 1.0)
    cols["gpu_hours_compute"] = cols["gpu_hours"][0] / cols["billed_overhead"]
    cols.update(
        strategy=c["strategy"],
        flops=total,
        model_flops=physics if flops is None else total,
        flops_basis=basis,
        mfu_assumed=np.where(has_peak, thr / gl["peak"], np.nan),
        extrapolation=why != "",
        extrapolation_reason=why,
        spot=c["spot"],
        gpu=gl["key"],
        gpus=c["gpus"],
        precision=c["precision"],
        flops_per_s_per_device=thr,
        efficiency_basis=np.where(has_peak, "mfu", "flops_per_s"),
    )
    return _estimates(cols, level=float(model.coverage))


def estimate(
    s: Scenario, *, model: CostModel | None = None, prices: PriceTable | None = None
) -> Estimate:
    """One scenario's estimate (see :func:`estimate_many`)."""
    return estimate_many([s], model=model, prices=prices)[0]


def _billed_overhead(model: CostModel) -> float:
    """The cold start's learned bill-over-compute factor (1 for a model saved without one)."""
    from costlens.estimator.model import cold_start_for

    return float(getattr(cold_start_for(model), "overhead_", 1.0))


def with_default_precision(scenarios: Sequence[Scenario], prices: PriceTable) -> list[Scenario]:
    """``scenarios`` with ``precision=None`` set to their accelerator's default precision (V100
    and T4: fp16; Ampere and newer: bf16; the spec table's ``default_precision``)."""
    return [
        s
        if s.precision is not None
        else dataclasses.replace(s, precision=prices.spec(s.gpu).default_precision)
        for s in scenarios
    ]


def _gpu_lookup(gpus: np.ndarray, precisions: np.ndarray, prices: PriceTable) -> Columns:
    """Accelerator key, peak FLOP/s at the precision (NaN for CPUs) and TDP per scenario.

    A precision the accelerator has no units for is refused (UsageError naming the ones it has),
    never priced at another precision's peak."""
    keys = np.empty(len(gpus), dtype=object)
    peak = np.empty(len(gpus))
    tdp = np.empty(len(gpus))
    mem = np.empty(len(gpus))
    cache: dict[tuple[str, str], tuple[str, float, float, float]] = {}
    for i, (g, p) in enumerate(zip(gpus, precisions, strict=True)):
        k = (g, p)
        if k not in cache:
            spec = prices.spec(g)
            pk = None if spec.key == CPU_KEY else spec.require_peak(p)
            cache[k] = (spec.key, float(pk) if pk else np.nan, float(spec.tdp_w or np.nan),
                        float(getattr(spec, "memory_gb", None) or np.nan))  # fmt: skip
        keys[i], peak[i], tdp[i], mem[i] = cache[k]
    return {"key": keys, "peak": peak, "tdp_w": tdp, "memory_gb": mem}


def _trainable_fraction(c: Columns, model: CostModel) -> np.ndarray:
    """The scenarios' trainable shares; LoRA / frozen-features without one take the prior
    table's default share. Strategies that train every parameter have none (NaN): a share a
    plan carries for its what-ifs never moves their FLOPs nor their efficiency."""
    frac = c["trainable_fraction"].copy()
    frac[np.isin(c["strategy"], ("scratch", "full-finetune"))] = np.nan
    for strat in ("lora", "frozen-features"):
        m = (c["strategy"] == strat) & np.isnan(frac)
        if m.any():
            frac[m] = default_trainable_fraction(strat, model.priors_)
    return frac


def _physics_flops(c: Columns, model: CostModel) -> tuple[np.ndarray, np.ndarray]:
    """(training FLOPs, how they were counted) per scenario; LoRA / frozen-features without a
    trainable share take the prior table's default share. The attention term needs ``seq_len``:
    missing ``n_layers`` / ``d_model`` are derived from the parameters (``physics.SHAPE_RULE``);
    ``n_layers`` or ``d_model`` without ``seq_len`` is refused."""
    frac = _trainable_fraction(c, model)
    seq = c["seq_len"]
    shape_given = np.isfinite(c["n_layers"]) | np.isfinite(c["d_model"])
    if (shape_given & np.isnan(seq)).any():
        raise UsageError(
            "--n-layers / --d-model count the attention term, which needs --seq-len "
            "(tokens per sequence): give it, or drop them."
        )
    layers, width = transformer_shape(c["params"], c["n_layers"], c["d_model"])
    has_seq = np.isfinite(seq)
    derived = has_seq & ~(np.isfinite(c["n_layers"]) & np.isfinite(c["d_model"]))
    basis = np.where(has_seq, "6N + 12 L d T per token (PaLM App. B)", "6N per token (no seq_len: "
                     "no attention term)").astype(object)  # fmt: skip
    for i in np.flatnonzero(derived):
        basis[i] += f"; L={layers[i]:.0f}, d={width[i]:.0f} derived by {SHAPE_RULE}"
    flops = strategy_flops(
        c["params"], c["tokens"], c["strategy"], trainable_fraction=frac,
        n_layers=np.where(has_seq, layers, np.nan), d_model=np.where(has_seq, width, np.nan),
        seq_len=seq, epochs=c["epochs"],
    )  # fmt: skip
    return flops, basis


def _log_throughput(
    model: CostModel, gl: Columns, c: Columns, log_eff_offset: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(median, low, high, why it extrapolates) of log FLOP/s per device; an offset (anchoring on a
    recorded run) shifts all three, never above the device's peak."""
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
            "tokens": c["tokens"],
            "seq_len": c["seq_len"],
            "trainable_fraction": c["trainable_fraction"],
        }
    )
    mean, lo, hi, why = model.predict_interval_reasons(X)
    if log_eff_offset is not None:
        off = np.asarray(log_eff_offset, dtype=float)
        mean, lo, hi = mean + off, lo + off, hi + off
        peak_log = np.log(gl["peak"])
        ok = np.isfinite(peak_log)
        for arr in (mean, lo, hi):
            arr[ok] = np.minimum(arr[ok], peak_log[ok])
    return mean, lo, hi, why


def _feasibility(c: Columns, frac: np.ndarray, gl: Columns, cols: Columns) -> Columns:
    """Memory per GPU and whether the job fits (``memory.job_memory``); a job spread over
    single-GPU instances is flagged (no fast interconnect between its GPUs)."""
    from costlens.estimator.memory import job_memory

    out = job_memory(c, frac, gl["memory_gb"])
    inst = np.asarray(cols["instance_gpus"], dtype=float)
    spread = (c["gpus"] > 1) & (inst == 1)
    for i in np.flatnonzero(spread):
        out["memory_basis"][i] += (
            f"; spread over {int(c['gpus'][i])} single-GPU instances: no NVLink between them, "
            "every step's gradients cross the network"
        )
    out["single_gpu_instances"] = spread
    return out


def _hours_and_dollars(
    c: Columns,
    gl: Columns,
    flops: np.ndarray,
    thr: np.ndarray,
    thr_lo: np.ndarray,
    thr_hi: np.ndarray,
    prices: PriceTable,
) -> Columns:
    """Wall and GPU hours, compute, label and total dollars; each interval figure a triple
    (point, low, high) of arrays (low: the fast end of throughput)."""
    gpus = c["gpus"]
    wall = (
        flops / (thr * gpus) / S_PER_H,
        flops / (thr_hi * gpus) / S_PER_H,
        flops / (thr_lo * gpus) / S_PER_H,
    )
    out: Columns = _price_lookup(gl["key"], c, prices)
    rate = out["usd_per_gpu_hour"]
    labels = np.nan_to_num(c["labelled_samples"] * c["usd_per_label"], nan=0.0)
    out["label_cost_usd"] = labels
    out["wall_hours"] = wall
    out["gpu_hours"] = tuple(h * gpus for h in wall)
    out["cost_usd"] = tuple(h * gpus * rate for h in wall)
    out["total_cost_usd"] = tuple(usd + labels for usd in out["cost_usd"])
    return out


def _price_lookup(keys: np.ndarray, c: Columns, prices: PriceTable) -> Columns:
    """Per row, of the cheapest matching instance: ``usd_per_gpu_hour`` (billed: whole
    instances), ``provider``, ``instance_type``, ``instance_gpus`` (GPUs per instance),
    ``usd_per_instance_hour`` and ``price_confirmed`` (False on an UNCONFIRMED row). NaN, "" and
    0 where no price is known, unless the user named the provider or instance."""
    n = len(keys)
    names = ("usd_per_gpu_hour", "provider", "instance_type", "instance_gpus",
             "usd_per_instance_hour", "price_confirmed")  # fmt: skip
    out: Columns = {k: np.empty(n, dtype=object) for k in names}
    cache: dict[tuple, tuple] = {}
    for i in range(n):
        k = (keys[i], int(c["gpus"][i]), c["provider"][i], c["instance"][i], bool(c["spot"][i]))
        if k not in cache:
            try:
                q = prices.cheapest(k[0], k[1], provider=k[2], spot=k[4], instance_type=k[3])
                cache[k] = (q.billed_usd_per_gpu_hour(k[1]), q.provider, q.instance_type,
                            q.gpu_count, q.usd_per_hour, q.confirmed)  # fmt: skip
            except PriceNotFoundError:
                if k[2] or k[3]:  # the user asked for this provider / instance: say so
                    raise
                cache[k] = (np.nan, "", "", 0, np.nan, True)
        for name, value in zip(names, cache[k], strict=True):
            out[name][i] = value
    out["usd_per_gpu_hour"] = out["usd_per_gpu_hour"].astype(float)
    return out


def _energy(
    model: CostModel, gl: Columns, c: Columns, flops: np.ndarray, wall: tuple[np.ndarray, ...]
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """((point, low, high) kWh, basis): measured J/FLOP of recorded runs on the same
    accelerator and precision where available, else TDP x devices x ``wall`` hours (an upper
    bound); NaN when neither is known."""
    n = len(flops)
    mid, lo, hi = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    basis = np.full(n, "unknown", dtype=object)
    tdp_kw = gl["tdp_w"] * c["gpus"] / W_PER_KW
    has_tdp = np.isfinite(tdp_kw)
    for arr, hours in zip((mid, lo, hi), wall, strict=True):
        arr[has_tdp] = (tdp_kw * hours)[has_tdp]
    basis[has_tdp] = "tdp_upper_bound"
    table = getattr(model, "energy_", {}) or {}
    if table:
        for i in range(n):
            e = table.get((gl["key"][i], c["precision"][i]))
            if e is not None:
                mid[i], lo[i], hi[i] = (v * flops[i] / J_PER_KWH for v in e)
                basis[i] = "measured_j_per_flop"
    return (mid, lo, hi), basis


_CASTS = {"float": float, "int": int, "bool": bool, "str": str}


def _estimates(cols: Columns, level: float) -> list[Estimate]:
    """One :class:`Estimate` per row of ``cols`` (one array per Estimate field; a (point, low,
    high) triple of arrays per :class:`Interval` field, at ``level``)."""
    lists = []
    for f in dataclasses.fields(Estimate):
        arr = cols[f.name]
        if f.type == "Interval":
            lists.append(_intervals(*arr, level))
            continue
        cast = _CASTS[str(f.type)]
        lists.append(
            np.asarray(arr, dtype=float).tolist() if cast is float else [cast(v) for v in arr]
        )
    names = [f.name for f in dataclasses.fields(Estimate)]
    return [Estimate(**dict(zip(names, row, strict=True))) for row in zip(*lists, strict=True)]


def _intervals(point: np.ndarray, low: np.ndarray, high: np.ndarray, level: float) -> list:
    """One :class:`Interval` per row, checked at once (the rule of ``Interval``: its error for
    the first row that breaks it), then built without checking each again."""
    point, low, high = (np.asarray(a, dtype=float) for a in (point, low, high))
    bad = np.flatnonzero((low > point) | (point > high) | (low > high))
    if len(bad):
        Interval(point[bad[0]], low[bad[0]], high[bad[0]], level)  # raises, naming the figures
    Interval(0.0, 0.0, 0.0, level)  # the level's check
    new = tuple.__new__
    rows = zip(point.tolist(), low.tolist(), high.tolist(), repeat(level))
    return [new(Interval, row) for row in rows]
