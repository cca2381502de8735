"""The figures costlens reports to experiment trackers, from a run's cost breakdown.

One mapping for MLflow and W&B, for runs in progress (the live figures) and for finished runs
(:func:`costlens.price.run_cost`): nothing is recomputed here, values are only named.
"""

from __future__ import annotations

from typing import Any

from costlens.core.units import finite_or_none
from costlens.record.live import HourlyRate, LiveFigures

# breakdown key -> metric name (units in the names, as in the store)
METRIC_KEYS: tuple[tuple[str, str], ...] = (
    ("cost_usd", "cost_usd"),
    ("gpu_hours", "gpu_hours"),  # GPU runs only (core.hours): a CPU run has device_hours
    ("device_hours", "device_hours"),
    ("instance_hours", "instance_hours"),
    ("duration_s", "duration_s"),
    ("flops", "flops"),
    ("achieved_flops_per_s", "achieved_flops_per_s"),
    ("mfu", "mfu"),
    ("mfu_steady_state", "mfu_steady_state"),
    ("energy_kwh", "energy_kwh"),
    ("energy_cost_usd", "energy_cost_usd"),
    ("idle_fraction", "idle_fraction"),
    ("idle_waste_usd", "idle_waste_usd"),
)


def final_figures(
    breakdown: dict[str, Any], run_id: str
) -> tuple[dict[str, float], dict[str, str]]:
    """(metrics, facts) of a finished run, from its :func:`~costlens.price.run_cost` breakdown
    (names without a prefix: each tracker adds its own).

    Metrics are the numbers that are known (a missing MFU or energy is left out, never 0);
    facts say what the dollars rest on: the instance, its price, source and date, and why it
    was chosen (``cost_basis``)."""
    metrics = {}
    for key, name in METRIC_KEYS:
        value = finite_or_none(breakdown.get(key))
        if value is not None:
            metrics[name] = value
    q = breakdown.get("quote") or {}
    params = {
        "run_id": run_id,
        "cost_basis": breakdown.get("quote_reason"),
        "instance": f"{q['provider']}/{q['instance_type']}" if q else None,
        "region": q.get("region"),
        "pricing": ("spot" if q.get("spot") else "on-demand") if q else None,
        "instance_usd_per_hour": q.get("usd_per_hour"),
        "price_source": q.get("source"),
        "price_as_of": q.get("as_of"),
        "instances": breakdown.get("instances"),
        "device": breakdown.get("device_key") or breakdown.get("device"),
        "device_count": breakdown.get("device_count"),
        "device_kind": breakdown.get("device_kind"),
        "precision": breakdown.get("precision"),
        "energy_source": breakdown.get("energy_source"),
        "mfu_peak_source": breakdown.get("peak_source"),
    }
    clean = {k: str(v)[:500] for k, v in params.items() if v not in (None, "")}
    return metrics, clean


def progress_figures(fig: LiveFigures, rate: HourlyRate | None) -> dict[str, float]:
    """Metrics of a run in progress: cost so far, projected cost, elapsed, steps, steps/s."""
    raw = {
        "cost_so_far_usd": fig.cost_usd,
        "projected_cost_usd": fig.projected_usd,
        "elapsed_s": fig.elapsed_s,
        "steps": float(fig.steps),
        "steps_per_s": fig.steps_per_s,
        "gpu_util_pct": fig.gpu_util_pct,
        "instance_usd_per_hour": rate.usd_per_hour if rate is not None else None,
    }
    return {k: float(v) for k, v in raw.items() if finite_or_none(v) is not None}
