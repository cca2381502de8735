"""Provenance of a forecast (the ``assumptions`` block): when and how it was made, the
estimator's identity, the price rows used with their source and as-of date, and the MFU."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from costlens.budget.forecast.distribution import number
from costlens.budget.forecast.result import records
from costlens.budget.plan import PlannedJob, plan_fingerprint
from costlens.core.errors import PriceNotFoundError, UnknownAcceleratorError
from costlens.core.units import json_ready

if TYPE_CHECKING:  # pragma: no cover
    from costlens.budget.forecast.options import ForecastOptions
    from costlens.estimator import Estimate
    from costlens.price.tables import PriceTable

DISTRIBUTION = (
    "per run: two-piece lognormal whose 10th, 50th and 90th percentiles "
    "are the estimator's low, point and high figures for compute cost, GPU-hours and "
    "energy (one shared draw for the three); labelling cost fixed and counted once per "
    "job; repeats independent draws; intervals are 10th/90th percentiles of simulated "
    "sums"
)


@dataclass(frozen=True)
class Inputs:
    """What a forecast was made from."""

    jobs: Sequence[PlannedJob]
    estimates: Sequence[Estimate]
    model: Any
    options: ForecastOptions
    prices: PriceTable
    plan_path: str | None


def assumptions(src: Inputs) -> dict[str, Any]:
    """The provenance block of a forecast (JSON-ready)."""
    from costlens import __version__

    o = src.options
    return {
        "generated_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "costlens_version": __version__,
        "plan": src.plan_path,
        "plan_sha256": plan_fingerprint(src.plan_path) if src.plan_path else None,
        "estimator": estimator_identity(src.model),
        "simulation": {
            "n_sims": o.n_sims,
            "seed": o.seed,
            "correlation": o.correlation,
            "distribution": DISTRIBUTION,
            "expected": "exact means (sums of the per-run distributions' means)",
        },
        "transfer_strategy": o.transfer_strategy,
        "prices": price_rows(src.jobs, src.estimates, src.prices),
        "mfu": mfu_rows(src.jobs, src.estimates),
        "mfu_priors": mfu_priors(src.model),
    }


def price_rows(jobs, estimates, prices: PriceTable) -> list[dict[str, Any]]:
    """The price rows the forecast used (one per provider, instance and spot), each with its
    region, instance size, source and as-of date from the table (the estimator's quote), its price
    per instance-hour, whether any job on it rents more GPUs than it uses
    (``whole_instance_billed``) and ``confirmed`` (False where the row's note says UNCONFIRMED)."""
    used: dict[tuple, dict[str, Any]] = {}
    for j, e in zip(jobs, estimates, strict=True):
        key = (e.provider, e.instance_type, e.spot)
        if key in used:
            seen = used[key]
            if "instance_gpus" in seen and seen["instance_gpus"] > j.gpus:
                seen["whole_instance_billed"] = True
            continue
        row: dict[str, Any] = {
            "provider": e.provider,
            "instance_type": e.instance_type,
            "gpu": j.gpu,
            "spot": bool(e.spot),
            "usd_per_gpu_hour": number(e.usd_per_gpu_hour),
        }
        try:
            q = prices.cheapest(
                j.gpu, j.gpus, provider=e.provider, spot=bool(e.spot), instance_type=e.instance_type
            )
        except (PriceNotFoundError, UnknownAcceleratorError):
            q = None
        if q is not None:
            row.update(region=q.region, gpu_count=q.gpu_count, source=q.source, as_of=q.as_of)
            row.update(
                usd_per_instance_hour=number(q.usd_per_hour),
                instance_gpus=q.gpu_count,
                whole_instance_billed=q.gpu_count > j.gpus,
                confirmed=q.confirmed,
                note=q.note,
            )
        used[key] = row
    return sorted(used.values(), key=lambda r: (str(r["provider"]), str(r["instance_type"])))


def mfu_rows(jobs, estimates) -> list[dict[str, Any]]:
    """The MFU the estimator assumed, per (accelerator, strategy, precision) of the plan."""
    mfu: dict[tuple, dict[str, Any]] = {}
    for j, e in zip(jobs, estimates, strict=True):
        key = (j.gpu, j.strategy, j.precision)
        if key not in mfu:
            mfu[key] = {
                "gpu": j.gpu,
                "strategy": j.strategy,
                "precision": j.precision,
                "mfu_assumed": number(e.mfu_assumed),
            }
    return sorted(mfu.values(), key=lambda r: (r["gpu"], r["strategy"], r["precision"]))


_MODEL_IDENTITY = ("version", "version_", "fingerprint", "fingerprint_", "n_runs_", "fitted_on_")


def estimator_identity(model: Any) -> dict[str, Any]:
    """The model's class and whichever identity attributes it has (fingerprint, runs fitted)."""
    out: dict[str, Any] = {"model": type(model).__name__ if model is not None else None}
    if model is None:
        return out
    for name in _MODEL_IDENTITY:
        value = getattr(model, name, None)
        if value is not None and not callable(value):
            out[name.strip("_")] = value if isinstance(value, dict) else json_ready(value)
    return out


def mfu_priors(model: Any) -> list[dict[str, Any]]:
    """The MFU prior table the model was built on (the shipped priors for a model without)."""
    priors = getattr(model, "priors_", None)
    if priors is None:
        from costlens.estimator import load_priors

        priors = load_priors()
    return records(priors)
