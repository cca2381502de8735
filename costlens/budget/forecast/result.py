"""The typed forecast: :class:`Forecast` with its :class:`Totals`, :class:`WhatIf` and
:class:`Budget` records. Money in USD, GPU time in GPU-hours, energy in kWh; every figure has
``_low``/``_high`` companions (10th/90th percentiles of the simulation). ``costlens.budget.files``
renders it; this module writes nothing."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from costlens.budget.forecast.distribution import QUANTITIES, SUFFIXES
from costlens.core.units import json_ready

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

WHAT_IFS = ("transfer", "cheapest_provider")
BUDGET_RULE = (
    "a period goes over when its expected cost exceeds the budget; p_over_budget is "
    "the share of simulations above the budget"
)


@dataclass(frozen=True)
class Totals:
    """The whole plan: counts, and each figure's expected value with its P10/P90."""

    jobs: int
    runs: int
    energy_unknown_jobs: int  # jobs without an energy figure (no TDP), left out of the sums
    cost_usd: float
    cost_usd_low: float
    cost_usd_high: float
    gpu_hours: float
    gpu_hours_low: float
    gpu_hours_high: float
    energy_kwh: float
    energy_kwh_low: float
    energy_kwh_high: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class WhatIfMonth:
    """One month of a what-if: its expected cost, P10/P90, and the saving against the plan."""

    month: str
    cost_usd: float
    cost_usd_low: float
    cost_usd_high: float
    savings_usd: float


@dataclass(frozen=True)
class WhatIf:
    """The plan changed one way, simulated on the same draws (savings are paired differences)."""

    description: str
    jobs_changed: int
    total_cost_usd: float
    total_cost_usd_low: float
    total_cost_usd_high: float
    savings_usd: float
    savings_usd_low: float
    savings_usd_high: float
    months: tuple[WhatIfMonth, ...]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class BudgetPeriod:
    """One month (or ``"total"``) against the budget."""

    month: str
    cost_usd: float
    cost_usd_low: float
    cost_usd_high: float
    budget_usd: float
    p_over_budget: float  # share of simulations above the budget
    over: bool  # expected cost above the budget


@dataclass(frozen=True)
class Budget:
    """The plan against a budget per month or in total (``period``)."""

    budget_usd: float
    period: str  # "month" or "total"
    over_months: tuple[str, ...]
    periods: tuple[BudgetPeriod, ...]
    rule: str = BUDGET_RULE

    def period_of(self, month: str) -> BudgetPeriod | None:
        """The period of ``month`` (``"total"`` for a total budget), or None."""
        return next((p for p in self.periods if p.month == month), None)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Forecast:
    """A plan's forecast. DataFrames: ``jobs``, ``months``, ``projects``, ``month_projects``."""

    jobs: pd.DataFrame
    months: pd.DataFrame
    projects: pd.DataFrame
    month_projects: pd.DataFrame
    total: Totals
    what_ifs: dict[str, WhatIf]  # name (see WHAT_IFS) -> what-if
    budget: Budget | None
    assumptions: dict[str, Any]  # provenance: simulation, estimator, prices, MFU, plan

    @property
    def over_budget(self) -> list[BudgetPeriod]:
        """The months (or the total) whose expected cost exceeds the budget."""
        return [p for p in self.budget.periods if p.over] if self.budget else []

    def as_dict(self) -> dict[str, Any]:
        """One JSON-ready object (the ``--format json`` contract)."""
        t = self.total
        return {
            **{f"total_{q}{s}": getattr(t, f"{q}{s}") for q in QUANTITIES for s in SUFFIXES},
            "jobs_count": t.jobs,
            "runs_count": t.runs,
            "energy_unknown_jobs": t.energy_unknown_jobs,
            "months": records(self.months),
            "projects": records(self.projects),
            "month_projects": records(self.month_projects),
            "jobs": records(self.jobs),
            "what_ifs": {name: w.as_dict() for name, w in self.what_ifs.items()},
            "budget": self.budget.as_dict() if self.budget else None,
            "assumptions": self.assumptions,
        }


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as JSON-ready dicts (numpy scalars unwrapped, NaN as None)."""
    return [json_ready(rec) for rec in df.to_dict(orient="records")]
