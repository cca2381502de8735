""":func:`forecast`: a plan of future training jobs -> a typed :class:`Forecast`.

1. Each job becomes an estimator ``Scenario`` (tokens = ``tokens * epochs``) priced by
   ``costlens.estimator.estimate_many`` on the given price table.
2. Each run's figures become a two-piece lognormal (:mod:`costlens.budget.forecast.distribution`).
3. ``n_sims`` seeded Monte Carlo draws are summed per month, project, month x project and in
   total (:mod:`costlens.budget.forecast.simulate`, :mod:`costlens.budget.forecast.rollup`).
4. What-ifs run on the same draws (:mod:`costlens.budget.forecast.whatifs`); a budget gets each
   period's probability of going over (:mod:`costlens.budget.forecast.budget`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costlens.budget.forecast import budget as budgets
from costlens.budget.forecast import whatifs
from costlens.budget.forecast.distribution import QUANTITIES, Dist, fit
from costlens.budget.forecast.estimates import EstimateFn, estimate_all, job_scenario, require_costs
from costlens.budget.forecast.options import ForecastOptions
from costlens.budget.forecast.provenance import Inputs, assumptions
from costlens.budget.forecast.result import Forecast, WhatIf
from costlens.budget.forecast.rollup import (
    Groups,
    group_frames,
    jobs_frame,
    rollup,
    summaries,
    totals,
)
from costlens.budget.forecast.simulate import ProgressFn, simulate
from costlens.budget.plan import PlannedJob, load_plan
from costlens.core.errors import PlanError
from costlens.estimator import Estimate, Scenario
from costlens.estimator.types import price_table

if TYPE_CHECKING:  # pragma: no cover
    from costlens.price.tables import PriceTable


def forecast(
    plan: Sequence[PlannedJob] | str | Path,
    options: ForecastOptions | None = None,
    *,
    prices: PriceTable | None = None,
    model: Any = None,
    estimate_fn: EstimateFn | None = None,
    progress: ProgressFn | None = None,
    source: str | Path | None = None,
) -> Forecast:
    """Forecast a plan (jobs from :func:`~costlens.budget.plan.load_plan`, or a plan file path).

    ``prices`` prices every job (None: ``PriceTable.load()``, the shipped tables plus the user's
    prices). ``model`` is passed to the estimator (default: its saved or prior-only model).
    ``estimate_fn(scenarios, model=..., prices=...) -> list[Estimate]`` defaults to
    ``costlens.estimator.estimate_many``. ``progress(stage, done, total)`` is called as work
    goes. ``source`` names the plan file ``plan``'s jobs came from (for the provenance).
    """
    import numpy as np

    options = options or ForecastOptions()
    prices = price_table(prices)
    if isinstance(plan, (str, Path)):
        source = plan
        plan = load_plan(plan, prices=prices)
    plan_path = str(source) if source is not None else None
    jobs = list(plan)
    if not jobs:
        raise PlanError("the plan has no jobs", path=plan_path)
    if estimate_fn is None:
        from costlens.estimator import estimate_many, load_model

        estimate_fn = estimate_many
        model = model if model is not None else load_model()
    run_fn = estimate_fn

    def estimate(batch: list[Scenario]) -> list[Estimate]:
        return list(run_fn(batch, model=model, prices=prices))

    scenarios = [job_scenario(j) for j in jobs]
    estimates = estimate_all(jobs, scenarios, estimate, progress, "estimating distinct jobs")
    dist = fit(estimates)
    require_costs(jobs, dist)
    repeats = np.array([j.repeats for j in jobs], dtype=np.int64)
    g = Groups.of(jobs)
    alt = _what_if_plans(jobs, scenarios, estimates, estimate, options, prices, progress)
    sim = simulate(
        dist, repeats, g.group, len(g.pairs), alternatives={k: v[0] for k, v in alt.items()},
        n_sims=options.n_sims, seed=options.seed, correlation=options.correlation,
        progress=progress,
    )  # fmt: skip
    month_sum, month_draws = rollup(sim, dist, repeats, g, g.month_of_pair, len(g.months))
    project_sum, _ = rollup(sim, dist, repeats, g, g.project_of_pair, len(g.projects))
    pair_sum = summaries(sim.groups, dist, repeats, g.group, len(g.pairs))
    months, projects, month_projects = group_frames(jobs, g, month_sum, project_sum, pair_sum)
    total_draws = {q: sim.groups[q].sum(axis=0) for q in QUANTITIES}
    total = totals(jobs, dist, repeats, total_draws)
    budget = None
    if options.budget_usd is not None:
        budget = budgets.budget(
            options.budget_usd, options.budget_period, months, month_draws["cost_usd"], total,
            total_draws["cost_usd"],
        )  # fmt: skip
        budgets.add_budget_columns(months, budget)
    base = (total, total_draws["cost_usd"], month_sum["cost_usd"])
    what_ifs: dict[str, WhatIf] = {
        name: whatifs.summarise(change, alt_dist, sim.alt_cost[name], repeats, g, *base)
        for name, (alt_dist, change) in alt.items()
    }
    return Forecast(
        jobs=jobs_frame(jobs, estimates, dist, sim, repeats),
        months=months,
        projects=projects,
        month_projects=month_projects,
        total=total,
        what_ifs=what_ifs,
        budget=budget,
        assumptions=assumptions(Inputs(jobs, estimates, model, options, prices, plan_path)),
    )


def _what_if_plans(
    jobs, scenarios, estimates, estimate, options: ForecastOptions, prices, progress
) -> dict[str, tuple[Dist, whatifs.Change]]:
    """name -> (the what-if plan's distributions, its change): the changed jobs re-estimated."""
    if not options.what_ifs:
        return {}
    changes = {
        "transfer": whatifs.transfer_change(jobs, options.transfer_strategy),
        "cheapest_provider": whatifs.cheapest_change(jobs, scenarios, estimates, prices),
    }
    out: dict[str, tuple[Dist, whatifs.Change]] = {}
    for name, change in changes.items():
        new_est = list(estimates)
        if change.jobs:
            sub = [jobs[i] for i in change.jobs]
            got = estimate_all(sub, change.scenarios, estimate, progress, f"what-if {name}")
            for i, e in zip(change.jobs, got, strict=True):
                new_est[i] = e
        alt_dist = fit(new_est)
        require_costs(jobs, alt_dist)
        out[name] = (alt_dist, change)
    return out
