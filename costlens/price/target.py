"""The cost to reach a quality target, as MLPerf Training measures time to a target, in dollars.

A :class:`Target` is a metric, a direction and a threshold (``accuracy>=0.95``). A run reaches
it at its first logged point (by time) whose value meets it; its cost to target is priced on the
same basis as the run's own cost: the run's billed cost x (seconds from the run's start to that
point / the run's duration). A run that never reached it is *not reached* (censored): its cost to
target is None, never a number, and its best value is said instead.

The metric is looked up by its name, then as ``eval_<name>`` (Hugging Face's evaluations) and
``val_<name>`` (a Lightning habit); :attr:`TargetCost.metric` says which series was used. No
pandas, no torch.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from costlens.core import config
from costlens.core.fmt import duration, money, number, percent
from costlens.core.validate import target as parse_target_text
from costlens.store.series import MetricPoint

__all__ = [
    "Target",
    "TargetCost",
    "cost_to_target",
    "costs_to_target",
    "parse_target",
    "priced_series",
    "project_target",
    "target_keys",
    "target_text",
    "with_target",
]

_PREFIXES = ("", "eval_", "val_")


@dataclass(frozen=True)
class Target:
    """A quality target: ``metric`` ``op`` (``>=`` or ``<=``) ``threshold``."""

    metric: str
    op: str
    threshold: float

    def met(self, value: float) -> bool:
        """Whether ``value`` reaches the target."""
        return (operator.ge if self.op == ">=" else operator.le)(value, self.threshold)

    def best(self, values: Iterable[float]) -> float:
        """The best of ``values`` for this target (highest for ``>=``, lowest for ``<=``)."""
        return (max if self.op == ">=" else min)(values)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"


def parse_target(text: str, what: str = "--target") -> Target:
    """``accuracy>=0.95`` as a :class:`Target`; bad text raises an
    :class:`~costlens.core.errors.InputError` naming the form (``what``: the flag or variable)."""
    metric, op, threshold = parse_target_text(text, what)
    return Target(metric, op, threshold)


def project_target(text: str | None) -> Target | None:
    """The target of a command: ``text`` (``--target``), else ``COSTLENS_TARGET``, else None."""
    if text is not None:
        return parse_target(text)
    default = config.TARGET.get()
    return parse_target(default, "environment variable COSTLENS_TARGET") if default else None


@dataclass(frozen=True)
class TargetCost:
    """What a run paid to reach a target. ``cost_usd`` is None when not reached (censored) or
    when the run has no price or duration; ``step``, ``t_s`` (seconds from the run's start) and
    ``value`` are those of the first point that reached it; ``best_value`` the best seen in the
    whole run (None: no series); ``basis`` says how it was priced, in words."""

    reached: bool
    cost_usd: float | None
    step: int | None
    t_s: float | None
    value: float | None
    best_value: float | None
    basis: str
    metric: str | None = None  # the series used (``accuracy``, ``eval_accuracy``...)
    target: str = ""


def _unix_s(iso: str | None) -> float | None:
    if not iso:
        return None
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def _series(points: Sequence[MetricPoint], run_id: str, metric: str) -> tuple[str, list]:
    for prefix in _PREFIXES:
        name = prefix + metric
        found = [p for p in points if p.run_id == run_id and p.name == name]
        if found:
            return name, found
    return metric, []


def cost_to_target(
    record: Mapping[str, Any],
    cost_usd: float | None,
    points: Sequence[MetricPoint],
    target: Target,
) -> TargetCost:
    """The cost of ``record`` (a run record: ``id``, ``started_at``, ``duration_s``) to reach
    ``target``, from its metric ``points`` and its billed ``cost_usd`` (see the module doc)."""
    name, series = _series(points, record["id"], target.metric)
    common = {"metric": name, "target": str(target)}
    if not series:
        basis = f"no {target.metric} series recorded for this run"
        return TargetCost(False, None, None, None, None, None, basis, **common)
    best = target.best(p.value for p in series)
    reaching = [p for p in series if target.met(p.value)]
    if not reaching:
        basis = f"not reached: best {name} {number(best)} in {len(series)} points (censored)"
        return TargetCost(False, None, None, None, None, best, basis, **common)
    first = min(reaching, key=lambda p: (p.t_unix_s, p.step))
    start, run_s = _unix_s(record.get("started_at")), record.get("duration_s")
    t_s = max(first.t_unix_s - start, 0.0) if start is not None else None
    where = f"{name} {number(first.value)} at step {first.step}"
    if cost_usd is None or t_s is None or not run_s or run_s <= 0:
        why = "no price" if cost_usd is None else "no duration"
        basis = f"reached ({where}); the run has {why}, so no cost"
        return TargetCost(True, None, first.step, t_s, first.value, best, basis, **common)
    share = min(t_s / run_s, 1.0)
    basis = (
        f"the run's billed cost {money(cost_usd)} x {duration(t_s)} to the first point with "
        f"{name} {target.op} {target.threshold:g} ({where}) / the run's {duration(run_s)} "
        f"= {percent(share)} of it"
    )
    return TargetCost(True, cost_usd * share, first.step, t_s, first.value, best, basis, **common)


def priced_series(
    record: Mapping[str, Any], cost_usd: float | None, points: Sequence[MetricPoint], metric: str
) -> list[tuple[float, float]]:
    """(billed cost US$ spent up to the point, value) of each point of ``record``'s ``metric``
    series (by name, else ``eval_``/``val_``), priced as :func:`cost_to_target` prices the point
    that reached: the run's cost x (seconds from its start / its duration). [] when the run has
    no price, start, duration or series."""
    _, series = _series(points, record["id"], metric)
    start, run_s = _unix_s(record.get("started_at")), record.get("duration_s")
    if cost_usd is None or start is None or not run_s or run_s <= 0:
        return []
    return [
        (cost_usd * min(max(p.t_unix_s - start, 0.0) / run_s, 1.0), p.value)
        for p in sorted(series, key=lambda p: (p.t_unix_s, p.step))
    ]


def costs_to_target(
    store: Any, records: Sequence[Mapping[str, Any]], target: Target
) -> dict[str, TargetCost]:
    """:func:`cost_to_target` of each priced record (its ``cost_usd`` key), by run id: one read
    of every run's series."""
    from costlens.store.series import metric_series

    ids = [r["id"] for r in records]
    points = [p for prefix in _PREFIXES for p in metric_series(store, ids, prefix + target.metric)]
    return {r["id"]: cost_to_target(r, r.get("cost_usd"), points, target) for r in records}


def with_target(
    store: Any, records: list[dict[str, Any]], target: Target | None, *, series: bool = False
) -> list[dict[str, Any]]:
    """Priced run records with the :data:`TARGET_KEYS` added (None when no target is set);
    with ``series``, also ``target_series``: the run's :func:`priced_series` of the target's
    metric (the cost-quality frontier's points)."""
    if target is None:
        return records
    costs = costs_to_target(store, records, target)
    out = [{**r, **target_keys(costs[r["id"]])} for r in records]
    if series:
        from costlens.store.series import metric_series

        ids = [r["id"] for r in records]
        names = [prefix + target.metric for prefix in _PREFIXES]
        points = [p for name in names for p in metric_series(store, ids, name)]
        for r in out:
            r["target_series"] = priced_series(r, r.get("cost_usd"), points, target.metric)
    return out


def target_text(tc: TargetCost) -> str:
    """One line for people: ``$0.0012 (step 300, 12 s)``, ``not reached (best 0.94)``."""
    if not tc.reached:
        if tc.best_value is None:
            return f"not reached (no {tc.metric} recorded)"
        return f"not reached (best {number(tc.best_value)})"
    when = f"step {tc.step}, {duration(tc.t_s)}" if tc.t_s is not None else f"step {tc.step}"
    if tc.cost_usd is None:
        return f"reached ({when}); no price"
    return f"{money(tc.cost_usd)} ({when})"


def target_keys(tc: TargetCost | None) -> dict[str, Any]:
    """The keys a run record gains for a target (JSON and CSV): all None without a target."""
    if tc is None:
        return dict.fromkeys(TARGET_KEYS)
    return {
        "target": tc.target,
        "target_reached": tc.reached,
        "cost_to_target_usd": tc.cost_usd,
        "target_step": tc.step,
        "target_t_s": tc.t_s,
        "target_value": tc.value,
        "target_best_value": tc.best_value,
        "target_metric": tc.metric,
        "target_basis": tc.basis,
        "to_target": target_text(tc),
    }


TARGET_KEYS = (
    "target", "target_reached", "cost_to_target_usd", "target_step", "target_t_s",
    "target_value", "target_best_value", "target_metric", "target_basis", "to_target",
)  # fmt: skip
