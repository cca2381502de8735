"""The metric-series interface (issue 21, part A) for the estimator's tests: the real one
(``costlens.store.series``, ``costlens.price.target``) where it is there, else a local stand-in
with the same signatures (``metric_series``, ``MetricPoint``, ``parse_target``,
``cost_to_target``) whose series live in :data:`SERIES` (per test, cleared by the fixture).
:func:`add_series` writes to whichever is installed.
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


def add_series(store: Any, run_id: str, points: list[tuple[int, float, float]], name="accuracy"):
    """``(step, t_unix_s, value)`` evaluations of ``run_id``: the real series table where
    there is one, else the stand-in's."""
    if _real("costlens.store.series"):
        from costlens.store.series import apply_metric_ops

        apply_metric_ops(store, {"run_id": run_id, "rank": 0, "put": [[name, *p] for p in points]})
    else:
        SERIES[run_id] = [MetricPoint(run_id, name, *p) for p in points]


def _real(module: str) -> bool:
    return module not in _INSTALLED and importlib.util.find_spec(module) is not None


_INSTALLED: set[str] = set()


def _install(monkeypatch: pytest.MonkeyPatch, module: str, **names: Any) -> None:
    import importlib

    mod = types.ModuleType(module)
    mod.__dict__.update(names)
    parent, _, leaf = module.rpartition(".")
    monkeypatch.setitem(sys.modules, module, mod)
    monkeypatch.setattr(importlib.import_module(parent), leaf, mod, raising=False)
    _INSTALLED.add(module)


@pytest.fixture
def series(monkeypatch: pytest.MonkeyPatch):
    """The stand-in installed for one test where the real interface is missing; yields
    :func:`add_series`."""
    SERIES.clear()
    if not _real("costlens.store.series"):
        _install(monkeypatch, "costlens.store.series", metric_series=metric_series,
                 MetricPoint=MetricPoint)  # fmt: skip
    if not _real("costlens.price.target"):
        _install(monkeypatch, "costlens.price.target", parse_target=parse_target,
                 cost_to_target=cost_to_target)  # fmt: skip
    yield add_series
    SERIES.clear()
    _INSTALLED.clear()
