"""A local stand-in for the metric-series interface (issue 21, part A) until it lands:
``costlens.store.queries.metric_series`` and, where the real module is missing,
``costlens.price.target`` (``parse_target``, ``cost_to_target``), with the agreed signatures.

Series written with :func:`add_series` live in :data:`SERIES` (per test, cleared by the
fixture). When part A lands, ``add_series`` is the one place to switch to the real series table.
"""

from __future__ import annotations

import importlib.util
import operator
import sys
import types
from typing import Any, NamedTuple

import pytest

SERIES: dict[str, list[MetricPoint]] = {}
OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


class MetricPoint(NamedTuple):
    run_id: str
    name: str
    step: int | None
    t_unix_s: float
    value: float


class Target(NamedTuple):
    metric: str
    op: str
    threshold: float

    def met(self, value: float) -> bool:
        return OPS[self.op](value, self.threshold)


class TargetCost(NamedTuple):
    reached: bool
    cost_usd: float | None
    step: int | None
    t_s: float | None
    value: float | None
    best_value: float | None
    basis: str


def parse_target(text: str) -> Target:
    from costlens.core.errors import InputError

    for op in (">=", "<=", ">", "<"):
        name, sep, number = text.partition(op)
        if sep:
            try:
                return Target(name.strip(), op, float(number))
            except ValueError:
                break
    raise InputError(f"--target {text!r}: write it as metric>=value, e.g. accuracy>=0.95.")


def cost_to_target(record: Any, cost_usd: float, points: list, target: Target) -> TargetCost:
    mine = sorted((p for p in points if p.name == target.metric), key=lambda p: p.t_unix_s)
    best = max((p.value for p in mine), default=None) if target.op[0] == ">" else None
    start = mine[0].t_unix_s if mine else 0.0
    for p in mine:
        if target.met(p.value):
            return TargetCost(True, cost_usd, p.step, p.t_unix_s - start, p.value, best, "stand-in")
    return TargetCost(False, None, None, None, None, best, "stand-in")


def metric_series(store: Any, run_ids: list[str], name: str | None = None) -> list[MetricPoint]:
    return [p for r in run_ids for p in SERIES.get(r, []) if name is None or p.name == name]


def add_series(store: Any, run_id: str, values: list[tuple[int, float]], name="accuracy") -> None:
    """``(step, value)`` evaluations of ``run_id``, one second apart."""
    SERIES[run_id] = [MetricPoint(run_id, name, s, 1e9 + i, v) for i, (s, v) in enumerate(values)]


@pytest.fixture
def series(monkeypatch: pytest.MonkeyPatch):
    """The stand-in installed for one test; yields :func:`add_series`."""
    import costlens.price
    import costlens.store.queries as queries

    SERIES.clear()
    monkeypatch.setattr(queries, "metric_series", metric_series, raising=False)
    if importlib.util.find_spec("costlens.price.target") is None:
        mod = types.ModuleType("costlens.price.target")
        mod.__dict__.update(parse_target=parse_target, cost_to_target=cost_to_target)
        monkeypatch.setitem(sys.modules, "costlens.price.target", mod)
        monkeypatch.setattr(costlens.price, "target", mod, raising=False)
    yield add_series
    SERIES.clear()
