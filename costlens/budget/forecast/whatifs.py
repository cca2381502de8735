"""What-ifs on the same plan and the same random draws (so their savings have honest intervals).

``transfer``: every *eligible* scratch job (``strategy == "scratch"``; the assumption is that a
pretrained base of the same size and architecture exists) is re-estimated with the transfer
strategy (default ``lora`` with the job's ``trainable_fraction`` or the estimator's default) on
``transfer_tokens`` (default: the same tokens), same accelerator, provider and count.
``cheapest_provider``: every job is re-priced on the cheapest instance of the price table for
its accelerator and count (spot when the job asks for spot), whatever the provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from costlens.budget.forecast.estimates import job_scenario
from costlens.budget.forecast.result import WhatIf, WhatIfMonth
from costlens.budget.forecast.rollup import Groups, interval
from costlens.budget.plan import PlannedJob
from costlens.core.errors import PriceNotFoundError, UnknownAcceleratorError
from costlens.estimator import Estimate, Scenario

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from costlens.budget.forecast.distribution import Dist
    from costlens.budget.forecast.result import Totals
    from costlens.price.tables import PriceQuote, PriceTable


@dataclass
class Change:
    """What one what-if changes: the jobs (by index), their new scenarios, and how."""

    jobs: list[int]
    scenarios: list[Scenario]
    description: str


def transfer_change(jobs: Sequence[PlannedJob], strategy: str) -> Change:
    idx, scen = [], []
    for i, j in enumerate(jobs):
        if j.strategy == "scratch":
            idx.append(i)
            tokens = (j.transfer_tokens or j.tokens) * j.epochs
            scen.append(job_scenario(j, strategy=strategy, tokens=tokens))
    note = (
        f"every scratch job (eligible: strategy 'scratch'; assumes a pretrained base of the same "
        f"size and architecture exists) re-estimated as '{strategy}' on its "
        f"transfer_tokens (default: the same tokens), same accelerator, count and provider"
    )
    return Change(idx, scen, note)


def cheapest_change(
    jobs: Sequence[PlannedJob],
    scenarios: Sequence[Scenario],
    estimates: Sequence[Estimate],
    prices: PriceTable,
) -> Change:
    """Jobs not already on the cheapest instance of their accelerator and count, re-priced."""
    idx, scen = [], []
    unpriced = 0
    for i, (j, s) in enumerate(zip(jobs, scenarios, strict=True)):
        q: PriceQuote | None
        try:
            q = prices.cheapest(j.gpu, j.gpus, spot=j.spot)  # memoised by the table
        except (PriceNotFoundError, UnknownAcceleratorError):
            q = None
        if q is None:
            unpriced += 1
            continue
        if (q.provider, q.instance_type) == (estimates[i].provider, estimates[i].instance_type):
            continue
        idx.append(i)
        scen.append(replace(s, provider=q.provider, instance=q.instance_type))
    note = (
        "every job re-priced on the cheapest instance of the price table for its accelerator and "
        "count (spot where the job asks for spot), any provider"
        + (f"; {unpriced} job(s) without such a price kept as planned" if unpriced else "")
    )
    return Change(idx, scen, note)


def summarise(
    change: Change,
    dist: Dist,
    pair_draws: np.ndarray,
    repeats: np.ndarray,
    g: Groups,
    base_total: Totals,
    base_total_draws: np.ndarray,
    base_month_cost: np.ndarray,
) -> WhatIf:
    """The what-if's cost per month and in total, and its savings against the plan (paired:
    both simulated on the same draws)."""
    import numpy as np

    job_cost = dist.job_mean("cost_usd", repeats)
    expected = float(job_cost.sum())
    total_draws = pair_draws.sum(axis=0)
    cost = interval(total_draws, expected)
    saving = interval(base_total_draws - total_draws, base_total.cost_usd - expected)
    onehot = np.zeros((len(g.months), len(g.month_of_pair)))
    onehot[g.month_of_pair, np.arange(len(g.month_of_pair))] = 1.0
    month_draws = onehot @ pair_draws
    month_exp = np.bincount(g.month_of_pair[g.group], weights=job_cost, minlength=len(g.months))
    lo, hi = np.percentile(month_draws, [10, 90], axis=1)
    months = tuple(
        WhatIfMonth(
            month=m,
            cost_usd=float(month_exp[i]),
            cost_usd_low=float(lo[i]),
            cost_usd_high=float(hi[i]),
            savings_usd=float(base_month_cost[i] - month_exp[i]),
        )
        for i, m in enumerate(g.months)
    )
    return WhatIf(
        description=change.description,
        jobs_changed=len(change.jobs),
        total_cost_usd=cost[0],
        total_cost_usd_low=cost[1],
        total_cost_usd_high=cost[2],
        savings_usd=saving[0],
        savings_usd_low=saving[1],
        savings_usd_high=saving[2],
        months=months,
    )
