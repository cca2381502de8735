"""The plan against a budget: per month or in total, the simulated probability of going over.

A period goes over when its expected cost exceeds the budget; ``p_over_budget`` is the share of
simulations above it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from costlens.budget.forecast.result import Budget, BudgetPeriod, Totals

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd


def budget(
    budget_usd: float,
    period: str,
    months: pd.DataFrame,
    month_cost_draws: np.ndarray,
    total: Totals,
    total_cost_draws: np.ndarray,
) -> Budget:
    """The :class:`Budget` of a plan whose month rows are ``months`` (cost draws per month in
    ``month_cost_draws``, shape (months, sims)); ``period`` is ``"month"`` or ``"total"``."""
    import numpy as np

    usd = float(budget_usd)
    periods: list[BudgetPeriod] = []
    if period == "month":
        p_over = (month_cost_draws > budget_usd).mean(axis=1)
        for i, row in enumerate(months.itertuples(index=False)):
            periods.append(
                BudgetPeriod(
                    month=row.month,
                    cost_usd=float(row.cost_usd),
                    cost_usd_low=float(row.cost_usd_low),
                    cost_usd_high=float(row.cost_usd_high),
                    budget_usd=usd,
                    p_over_budget=float(p_over[i]),
                    over=bool(row.cost_usd > budget_usd),
                )
            )
    else:
        periods.append(
            BudgetPeriod(
                month="total",
                cost_usd=total.cost_usd,
                cost_usd_low=total.cost_usd_low,
                cost_usd_high=total.cost_usd_high,
                budget_usd=usd,
                p_over_budget=float(np.mean(total_cost_draws > budget_usd)),
                over=bool(total.cost_usd > budget_usd),
            )
        )
    over = tuple(p.month for p in periods if p.over)
    return Budget(budget_usd=usd, period=period, over_months=over, periods=tuple(periods))


def add_budget_columns(months: pd.DataFrame, b: Budget) -> None:
    """``budget_usd`` and ``p_over_budget`` columns on the month rows (NaN for a total budget)."""
    per_month = b.period == "month"
    months["budget_usd"] = b.budget_usd if per_month else float("nan")
    months["p_over_budget"] = [p.p_over_budget for p in b.periods] if per_month else float("nan")
