"""A recorded run -> what it cost, on its own hardware and on every provider's matching instance.

Runs store facts only (times, device names and counts, FLOPs, energy); every figure here is derived
from those facts and a :class:`~costlens.price.tables.PriceTable` handed in explicitly
(``prices``), so
a new price table re-prices old runs. Nothing here imports torch; SQL lives in
:mod:`costlens.store.aggregates`.

Conventions (units in names):
- ``gpu_hours`` = duration_s * device_count / 3600 (0 for a CPU-only run, which used no GPU);
  ``instance_hours`` = duration_s * instances rented / 3600, what the dollars are for.
- ``cost_usd`` = whole instances x hours x the instance's $/h (``PriceQuote.billed_usd_per_hour``):
  a run on 1 GPU of an 8-GPU instance pays for the instance. Which instance was used, and why,
  is in ``quote`` and ``quote_reason`` (:mod:`costlens.price.billing`).
- ``energy_kwh`` comes from the run's energy counter (``energy_j``), else from its samples (NVML
  energy counter delta, else mean sampled power x duration); otherwise it is None, never 0.
- ``mfu`` = achieved FLOP/s / (peak FLOP/s at the run's precision x device_count); None when the
  peak is unknown (CPU runs, accelerators without a sourced peak).

Modules: :mod:`~costlens.price.billing` (which instance, and why), :mod:`~costlens.price.breakdown`
(one run's figures), :mod:`~costlens.price.alternatives` (other providers),
:mod:`~costlens.price.idle` (telemetry summary), :mod:`~costlens.price.columns` (stored runs),
:mod:`~costlens.price.listing` (the price list).
"""

from __future__ import annotations

from costlens.core.lazy import lazy_exports
from costlens.price.alternatives import alternatives
from costlens.price.billing import choose_quote, quote_source
from costlens.price.breakdown import duration_s, is_cpu_run, run_cost

# What reads the store (SQLAlchemy and the table models) loads on first use: pricing a run's
# facts (the live cost line, the spend guard: ``run_cost``) does not import SQL.
_LAZY = {
    "COST_KEYS": "columns",
    "add_cost_columns": "columns",
    "cost_breakdown": "columns",
    "sample_summary": "idle",
    "PRICE_KEYS": "listing",
    "price_rows": "listing",
}

__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "COST_KEYS",
    "PRICE_KEYS",
    "add_cost_columns",
    "alternatives",
    "choose_quote",
    "cost_breakdown",
    "duration_s",
    "is_cpu_run",
    "price_rows",
    "quote_source",
    "run_cost",
    "sample_summary",
]
