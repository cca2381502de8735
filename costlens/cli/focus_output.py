"""`costlens reconcile`'s output: the totals, then per instance, per project and out of scope."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

from costlens.cli.common import OutputFormat, dumps_json, emit, stdout_console
from costlens.cli.tables import ID, NUM, USD, Col

SECTIONS = ("instances", "projects", "out_of_scope")


def _layouts(money: str) -> dict[str, list[Col]]:
    figures = [
        Col("billed_usd", "billed", 0, money), Col("explained_usd", "runs", 1, money),
        Col("idle_usd", "idle", 1, money), Col("priced_usd", "costlens", 2, money),
        Col("gap_usd", "gap", 2, money),
    ]  # fmt: skip
    return {
        "instances": [Col("resource_id", "instance", 0, ID), Col("project", "project", 3),
                      Col("runs", "runs#", 4, NUM), *figures,
                      Col("gap_reasons", "reasons", 5)],
        "projects": [Col("project", "project", 0), Col("instances", "instances", 4, NUM),
                     *figures],
        "out_of_scope": [Col("reason", "out of scope", 0), Col("lines", "lines", 2, NUM),
                         Col("billed_usd", "billed", 0, money)],
    }  # fmt: skip


def _joined(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: "; ".join(v) if isinstance(v, list) else v for k, v in row.items()} for row in rows]


def show(result: Any, fmt: OutputFormat) -> None:
    """Print a :class:`~costlens.price.reconcile.Reconciliation` as tables, JSON or CSV (one
    row per instance, project and out-of-scope reason, with a ``section`` column)."""
    if fmt is OutputFormat.json:
        sys.stdout.write(dumps_json(asdict(result)) + "\n")
        return
    if fmt is OutputFormat.csv:
        rows = [{"section": s, **r} for s in SECTIONS for r in _joined(getattr(result, s))]
        keys: dict[str, None] = {}
        for r in rows:
            keys.update(dict.fromkeys(r))
        emit([{k: r.get(k) for k in keys} for r in rows], fmt)
        return
    money = USD if result.currency == "USD" else NUM
    layouts = _layouts(money)
    totals = [{"section": "bill", **result.totals}]
    emit(totals, fmt, title=f"the bill ({result.currency}): runs + idle + out of scope",
         layout=[Col("billed_usd", "billed", 0, money), Col("explained_usd", "runs", 0, money),
                 Col("idle_usd", "idle", 0, money),
                 Col("out_of_scope_usd", "out of scope", 0, money),
                 Col("priced_usd", "costlens priced", 1, money)])  # fmt: skip
    for section, title in (("instances", "per instance"), ("projects", "per project"),
                           ("out_of_scope", "out of scope")):  # fmt: skip
        rows = _joined(getattr(result, section))
        if rows:
            stdout_console().print()
            emit(rows, fmt, title=title, layout=layouts[section])
