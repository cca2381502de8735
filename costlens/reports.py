"""Run records for people and tools: the stored facts plus what is derived from them.

The one place the CLI and the dashboard get run rows from, so both show the same figures.
Cost columns are added by :mod:`costlens.cost`.
"""

from __future__ import annotations

from typing import Any

from costlens.store.db import Store
from costlens.store.queries import get_run, list_runs


def _with_costs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from costlens.cost import add_cost_columns

    return add_cost_columns(records)


def run_rows(
    store: Store,
    *,
    project: str | None = None,
    status: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Runs newest first with the stable keys (see ``RUN_KEYS``) and cost keys when priced."""
    return _with_costs(list_runs(store, project=project, status=status, limit=limit))


def run_detail(store: Store, run_id: str) -> dict[str, Any]:
    """One run by id or prefix, with cost keys when priced."""
    return _with_costs([get_run(store, run_id)])[0]
