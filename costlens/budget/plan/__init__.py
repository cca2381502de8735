"""Plans of future training jobs: the schema, cell parsing, validation and the file readers.

:func:`load_plan` turns a CSV, XLSX, TOML or YAML plan into validated :class:`PlannedJob` rows
(or one :class:`~costlens.core.errors.PlanError` naming file, line and column). See
:mod:`costlens.budget.plan.schema` for the columns.
"""

from __future__ import annotations

from costlens.budget.plan.readers import load_plan, plan_fingerprint
from costlens.budget.plan.schema import (
    ANY_PROVIDER,
    OPTIONAL_COLUMNS,
    PLAN_COLUMNS,
    REQUIRED_COLUMNS,
    PlannedJob,
)
from costlens.budget.plan.validate import Problem

__all__ = [
    "ANY_PROVIDER",
    "OPTIONAL_COLUMNS",
    "PLAN_COLUMNS",
    "REQUIRED_COLUMNS",
    "PlannedJob",
    "Problem",
    "load_plan",
    "plan_fingerprint",
]
