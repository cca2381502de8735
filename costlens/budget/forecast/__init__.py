"""Budget forecasts: a plan of future training jobs -> cost per job, month and project.

The plan itself (schema, parsing, validation, readers) lives in :mod:`costlens.budget.plan`. Here:
the estimator adapter (:mod:`.estimates`), per-run distributions (:mod:`.distribution`), Monte Carlo
(:mod:`.simulate`), result assembly (:mod:`.rollup`), budget (:mod:`.budget`), what-ifs
(:mod:`.whatifs`), provenance (:mod:`.provenance`) and the typed result (:mod:`.result`).
:func:`forecast` ties them together; ``costlens.budget.files`` renders the :class:`Forecast`.
"""

from __future__ import annotations

from costlens.budget.forecast.distribution import QUANTITIES, Z90, Dist, fit
from costlens.budget.forecast.estimates import EstimateFn, job_scenario
from costlens.budget.forecast.options import BUDGET_PERIODS, ForecastOptions
from costlens.budget.forecast.result import (
    WHAT_IFS,
    Budget,
    BudgetPeriod,
    Forecast,
    Totals,
    WhatIf,
    WhatIfMonth,
)
from costlens.budget.forecast.rollup import JOB_COLUMNS
from costlens.budget.forecast.run import forecast
from costlens.budget.forecast.simulate import (
    DEFAULT_SEED,
    DEFAULT_SIMS,
    GRID_SIZE,
    ProgressFn,
    SimResult,
    normal_grid,
    simulate,
)
from costlens.budget.plan import (
    PLAN_COLUMNS,
    REQUIRED_COLUMNS,
    PlannedJob,
    load_plan,
    plan_fingerprint,
)

__all__ = [
    "BUDGET_PERIODS",
    "DEFAULT_SEED",
    "DEFAULT_SIMS",
    "GRID_SIZE",
    "JOB_COLUMNS",
    "PLAN_COLUMNS",
    "QUANTITIES",
    "REQUIRED_COLUMNS",
    "WHAT_IFS",
    "Z90",
    "Budget",
    "BudgetPeriod",
    "Dist",
    "EstimateFn",
    "Forecast",
    "ForecastOptions",
    "PlannedJob",
    "ProgressFn",
    "SimResult",
    "Totals",
    "WhatIf",
    "WhatIfMonth",
    "fit",
    "forecast",
    "job_scenario",
    "load_plan",
    "normal_grid",
    "plan_fingerprint",
    "simulate",
]
