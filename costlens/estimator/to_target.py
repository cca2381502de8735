"""What each strategy needs to reach a quality target, learned from the team's own runs.

For a target (``accuracy>=0.95``, :mod:`costlens.price.target`) and a project's recorded runs
with metric series (``metric_series`` of ``costlens.store.series``), each run's first evaluation
that reached the target gives its steps to target; its samples and tokens to target are that
share of the run's own samples and tokens (``step / steps``; the run's elapsed-time share when
the series has no steps). Per strategy: the median over the runs that reached, with a
distribution-free order-statistic interval for the median, beside the number of runs and how
many reached. Runs that never reached are counted and named, never given a number (censored).

This is "effective data transferred" (Hernandez et al. 2021, "Scaling Laws for Transfer")
measured on the team's own runs: scratch's data to target minus a transfer strategy's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import TYPE_CHECKING, Any

from costlens.core import fmt
from costlens.core.errors import EstimatorError
from costlens.core.units import json_ready
from costlens.core.vocab import COVERAGE, ESTIMABLE_STRATEGIES
from costlens.estimator.training import run_strategy, usable_runs
from costlens.estimator.types import Interval, Scenario, price_table

if TYPE_CHECKING:
    from costlens.estimator.model import CostModel
    from costlens.price.tables import PriceTable
    from costlens.store.db import Store
    from costlens.store.models import RunRecord

METHOD = (
    "median over the runs that reached the target, with an order-statistic interval for the "
    "median (binomial, distribution-free; its level below 80% when fewer than 4 runs reached); "
    "runs that never reached are counted, never given a number"
)


@dataclass(frozen=True)
class RunReach:
    """One run against the target: where it first reached it (None when it never did)."""

    run_id: str
    strategy: str
    reached: bool
    steps: float | None  # steps to target
    samples: float | None  # samples seen up to the target (the run's samples x share)
    tokens: float | None  # tokens likewise; the run's samples for models without tokens
    best_value: float | None  # the best value of the metric the run logged
    basis: str  # how the share of the run was found (step or elapsed time)


@dataclass(frozen=True)
class StrategyNeed:
    """A strategy's data to target over its runs (``tokens``: tokens, else samples, as a
    :class:`~costlens.estimator.Scenario` counts them); None when no run reached."""

    strategy: str
    runs: tuple[RunReach, ...]
    steps: Interval | None
    samples: Interval | None
    tokens: Interval | None

    @property
    def reached(self) -> tuple[RunReach, ...]:
        return tuple(r for r in self.runs if r.reached)

    @property
    def best_value(self) -> float | None:
        values = [r.best_value for r in self.runs if r.best_value is not None]
        return max(values) if values else None

    def as_dict(self) -> dict[str, Any]:
        """Raw numbers for JSON: ``tokens_to_target`` with ``_low``/``_high`` and its level."""
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "runs": len(self.runs),
            "runs_reached": len(self.reached),
            "run_ids": [r.run_id for r in self.runs],
            "reached_run_ids": [r.run_id for r in self.reached],
            "best_value": self.best_value,
        }
        for name in ("steps", "samples", "tokens"):
            iv: Interval | None = getattr(self, name)
            out.update(_flat(f"{name}_to_target", iv))
        out["interval_level"] = self.tokens.level if self.tokens is not None else None
        return json_ready(out)


@dataclass(frozen=True)
class TargetNeeds:
    """Every strategy's :class:`StrategyNeed` for one target, scratch first."""

    target: str
    needs: dict[str, StrategyNeed]
    method: str = METHOD

    @property
    def runs(self) -> int:
        return sum(len(n.runs) for n in self.needs.values())

    def tokens_by_strategy(self) -> dict[str, float | None]:
        """Each strategy with runs: its median tokens to target (None: no run reached)."""
        return {s: n.tokens.point if n.tokens else None for s, n in self.needs.items()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "method": self.method,
            "runs": self.runs,
            "strategies": [n.as_dict() for n in self.needs.values()],
        }


def _flat(name: str, iv: Interval | None) -> dict[str, float | None]:
    if iv is None:
        return {name: None, f"{name}_low": None, f"{name}_high": None}
    return iv.flat(name)


def median_interval(values: Sequence[float], level: float = COVERAGE) -> Interval:
    """The median of ``values`` with the narrowest order-statistic interval ``(x_(k),
    x_(n+1-k))`` that covers the true median with probability at least ``level`` (binomial,
    any distribution); with too few values for ``level``, the widest one, at its own level.
    One value: the value alone (NaN bounds)."""
    xs = sorted(float(v) for v in values)
    n = len(xs)
    mid = median(xs)
    if n < 2:
        return Interval(mid, math.nan, math.nan)
    best_k, best_cover = 1, _coverage(n, 1)
    for k in range(2, n // 2 + 1):
        cover = _coverage(n, k)
        if cover < level:
            break
        best_k, best_cover = k, cover
    return Interval(mid, xs[best_k - 1], xs[n - best_k], best_cover)


def _coverage(n: int, k: int) -> float:
    """P(x_(k) <= median <= x_(n+1-k)) = 1 - 2 P(Binomial(n, 1/2) < k)."""
    return 1.0 - 2.0 * sum(math.comb(n, i) for i in range(k)) / 2.0**n


def run_reach(record: RunRecord, points: Sequence[Any], target: Any) -> RunReach:
    """``record`` against ``target`` over its metric ``points`` (:func:`cost_to_target`'s rule
    for the first evaluation that reached it)."""
    from costlens.price.target import cost_to_target

    hit = cost_to_target(record, None, list(points), target)  # unpriced: where, not what
    strategy = run_strategy(record)
    best = _number(hit.best_value)
    if not hit.reached:
        return RunReach(record["id"], strategy, False, None, None, None, best, "not reached")
    share, basis = _share(record, hit)
    if share is None:
        return RunReach(record["id"], strategy, False, None, None, None, best, basis)
    samples = float(record.get("samples") or 0) * share
    units = float(record.get("tokens") or 0) * share or samples
    steps = _number(hit.step)
    steps = steps if steps is not None else float(record.get("steps") or 0) * share
    return RunReach(record["id"], strategy, True, steps, samples, units, best, basis)


def _share(record: RunRecord, hit: Any) -> tuple[float | None, str]:
    """The share of the run spent up to the target: by steps, else by elapsed time."""
    step, steps = _number(hit.step), float(record.get("steps") or 0)
    if step is not None and steps > 0:
        return min(max(step, 0.0) / steps, 1.0), "steps"
    t_s, duration_s = _number(hit.t_s), float(record.get("duration_s") or 0)
    if t_s is not None and duration_s > 0:
        return min(max(t_s, 0.0) / duration_s, 1.0), "elapsed time"
    return None, "reached, but the run has no step count or duration to place it"


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def strategy_needs(
    records: Iterable[RunRecord],
    points_by_run: Mapping[str, Sequence[Any]],
    target: Any,
    target_text: str,
) -> TargetNeeds:
    """Every strategy's data to target over the ``records`` that have metric points (runs
    without a series say nothing and are left out)."""
    by_strategy: dict[str, list[RunReach]] = {}
    for record in records:
        points = points_by_run.get(record["id"])
        if points:
            reach = run_reach(record, points, target)
            by_strategy.setdefault(reach.strategy, []).append(reach)
    needs = {}
    for strategy in ESTIMABLE_STRATEGIES:
        runs = tuple(by_strategy.get(strategy, ()))
        if not runs:
            continue
        hit = [r for r in runs if r.reached]

        def interval(attr: str, hit: list[RunReach] = hit) -> Interval | None:
            return median_interval([getattr(r, attr) for r in hit]) if hit else None

        needs[strategy] = StrategyNeed(
            strategy, runs, interval("steps"), interval("samples"), interval("tokens")
        )
    return TargetNeeds(target_text, needs)


def same_task(records: list[RunRecord]) -> list[RunRecord]:
    """The runs of the task transfer is aimed at, where runs log their ``task`` (the demo's
    pretraining runs are ``scratch`` on the source task: never counted as scratch on the
    target task). That task is the one most transfer runs logged; runs that log no task stay."""
    from collections import Counter

    from costlens.core.vocab import TRANSFER_STRATEGIES

    def task(r: RunRecord) -> Any:
        return (r.get("metrics") or {}).get("task")

    tasks = Counter(task(r) for r in records if r.get("strategy") in TRANSFER_STRATEGIES)
    tasks.pop(None, None)
    if not tasks:
        return records
    aimed = tasks.most_common(1)[0][0]
    return [r for r in records if task(r) in (None, aimed)]


def project_needs(
    store: Store,
    target_text: str,
    *,
    project: str | None = None,
    tags: Sequence[str] = (),
) -> tuple[TargetNeeds, list[RunRecord]]:
    """:func:`strategy_needs` of a project's completed runs (carrying every tag in ``tags``)
    and their series of the target's metric; also the runs read, newest first."""
    from costlens.price.target import parse_target
    from costlens.store.queries import list_runs
    from costlens.store.series import metric_series

    target = parse_target(target_text)
    records = same_task([
        r
        for r in list_runs(store, project=project, status="completed")
        if all(t in (r.get("tags") or ()) for t in tags)
    ])  # fmt: skip
    points: dict[str, list[Any]] = {}
    for p in metric_series(store, [r["id"] for r in records]) if records else ():
        points.setdefault(p.run_id, []).append(p)
    return strategy_needs(records, points, target, target_text), records


def compare_at_target(
    needs: TargetNeeds,
    records: Sequence[RunRecord],
    *,
    scenario: Scenario | None = None,
    from_run: RunRecord | None = None,
    model: CostModel | None = None,
    prices: PriceTable | None = None,
    scratch_tokens: float | None = None,
    scratch_labelled_samples: float | None = None,
    **run_overrides: Any,
) -> dict[str, Any]:
    """Every strategy priced at equal quality: each on its own data to target (``needs``).

    The size and hardware come from ``scenario`` (flags), else ``from_run``, else the newest
    usable run of ``records`` that reached the target (``anchor_run``; its measured speed
    anchors every strategy). A strategy whose runs never reached is not priced; one with no
    runs is priced on ``scenario``'s data only when a scenario is given (``data_basis`` says
    which). With no runs at all: today's comparison on the given inputs, ``basis`` "fallback".
    """
    kw: dict[str, Any] = {"model": model, "prices": price_table(prices)}
    kw["scratch_labelled_samples"] = scratch_labelled_samples
    anchor = from_run
    if needs.runs and scenario is None and anchor is None:
        anchor = _anchor(needs, records)
    if not needs.runs:
        if scenario is None and from_run is None:
            raise EstimatorError(_NO_RUNS.format(target=needs.target))
        kw["scratch_tokens"] = scratch_tokens
        result = _compare(scenario, from_run, kw, run_overrides, None)
        result["target"] = {**needs.as_dict(), "basis": "fallback", "anchor_run": None}
        return result
    tokens, basis = _tokens_at_target(needs, scenario, scratch_tokens)
    ends = {}
    for end in ("low", "high"):
        ends[end] = _compare(scenario, anchor, kw, run_overrides, _end(needs, tokens, end))
    result = _compare(scenario, anchor, kw, run_overrides, tokens)
    for i, row in enumerate(result["strategies"]):
        need = needs.needs.get(row["strategy"])
        row.update((need or StrategyNeed(row["strategy"], (), None, None, None)).as_dict())
        row["reached_target"] = None if need is None else bool(need.reached)
        row["data_basis"] = basis[row["strategy"]]
        for end, other in ends.items():
            row[f"total_cost_usd_data_{end}"] = other["strategies"][i]["total_cost_usd"]
    result["target"] = {
        **{k: v for k, v in needs.as_dict().items() if k != "strategies"},
        "basis": "runs",
        "anchor_run": anchor["id"] if anchor is not None and scenario is None else None,
    }
    return result


_NO_RUNS = (
    "no completed run here has a metric series that can be held to {target}: log it during "
    "training (run.log(accuracy=..., step=...)), or give --params and --tokens (and "
    "--scratch-tokens) to compare on your own inputs."
)


def _compare(
    scenario: Scenario | None,
    anchor: RunRecord | None,
    kw: dict[str, Any],
    run_overrides: dict[str, Any],
    tokens: Mapping[str, float | None] | None,
) -> dict[str, Any]:
    from costlens.estimator.comparison import compare, compare_from_run

    if scenario is not None:
        return compare(scenario, tokens_by_strategy=tokens, **kw)
    assert anchor is not None
    return compare_from_run(anchor, tokens_by_strategy=tokens, **kw, **run_overrides)


def _anchor(needs: TargetNeeds, records: Sequence[RunRecord]) -> RunRecord:
    """The newest usable run that reached the target, else the newest usable run with a series."""
    reached = {r.run_id for n in needs.needs.values() for r in n.reached}
    seen = {r.run_id for n in needs.needs.values() for r in n.runs}
    usable = [r for r in usable_runs(records) if r.get("params_total")]
    for pool in (reached, seen):
        pick = next((r for r in usable if r["id"] in pool), None)
        if pick is not None:
            return pick
    raise EstimatorError(
        f"no run held to {needs.target} can anchor an estimate (each needs status completed, "
        "FLOPs, a duration and a parameter count): give --params and --tokens, or --from-run."
    )


def _tokens_at_target(
    needs: TargetNeeds, scenario: Scenario | None, scratch_tokens: float | None
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Each strategy's data (None: not priced) and the words that say where it comes from."""
    tokens: dict[str, float | None] = {}
    basis: dict[str, str] = {}
    for s in ESTIMABLE_STRATEGIES:
        need = needs.needs.get(s)
        if need is not None and need.tokens is not None:
            tokens[s] = need.tokens.point
            basis[s] = f"median of the {len(need.reached)} of {len(need.runs)} runs that reached"
        elif need is not None:
            tokens[s] = None
            basis[s] = (
                f"none of {len(need.runs)} runs reached {needs.target} "
                f"(best {fmt.number(need.best_value)}): not priced"
            )
        elif scenario is not None:
            tokens[s] = (scratch_tokens or scenario.tokens) if s == "scratch" else scenario.tokens
            basis[s] = "no runs: the data given, not at equal quality"
        else:
            tokens[s] = None
            basis[s] = "no runs: not priced"
    return tokens, basis


def _end(needs: TargetNeeds, tokens: Mapping[str, float | None], end: str) -> dict:
    """``tokens`` with each strategy's data at the ``end`` ("low" / "high") of its interval."""
    out = dict(tokens)
    for s, need in needs.needs.items():
        if need.tokens is not None and math.isfinite(getattr(need.tokens, end)):
            out[s] = getattr(need.tokens, end)
    return out
