"""The transfer question at equal quality: repeated cells compared on cost to target, the
cost-quality frontier, and the one-line summary a reader can trust.

A cell is one transfer strategy on one model size and labelled budget against scratch on the
same. Whether a run reached the quality target is read from its metric series held to the
target (:func:`costlens.price.target.with_target`: the first evaluation that met it) where the
run has one, else from what it logged (``reached_target``). When every run of a cell says,
only runs that reached it are compared, on the noise-robust basis of
:func:`costlens.apps.transfer.basis_of` (the demo: training-thread CPU time), and the reach rate
stands beside the saving: a strategy that does not reach the target is never said to save.
The demo's runs stop at the first evaluation that reaches the target, so a reached run's whole
CPU time is its CPU time to target. The frontier prices each evaluation of a series at the
billed cost spent up to it. No pandas, no torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from costlens.apps.transfer import (
    EQUAL_QUALITY,
    TARGET_METRIC,
    WHOLE_RUNS,
    RunFigures,
    basis_of,
    number,
    saving_interval,
    verdict,
)
from costlens.core.fmt import score
from costlens.core.vocab import (
    NEITHER_REACHES,
    NOT_REACHED,
    ONLY_TRANSFER_REACHES,
    SAVES,
    SCRATCH,
    TOO_FEW_REACHED,
)


@dataclass(frozen=True)
class Cell:
    """One transfer strategy on one model size and labelled budget, against scratch on the same,
    over every repeat of each, at equal quality when the runs logged whether they reached their
    target (``reached_target``): only runs that reached it are compared (``method``), and a cell
    whose transfer runs never reached it gets ``does not reach target``, never a saving.
    ``saving_pct`` compares the geometric means of the compared runs' ``basis`` figures; its
    interval is a Welch t interval on the log ratio (CELL_CONFIDENCE)."""

    strategy: str
    width: int | None
    params: int | None
    labels: float | None
    runs: tuple[RunFigures, ...]
    scratch: tuple[RunFigures, ...]
    basis: str
    saving_pct: float | None  # None: nothing to compare (a side reached no target)
    saving_pct_low: float | None  # None: fewer than 2 compared runs on a side, no interval
    saving_pct_high: float | None
    verdict: str | None  # vocab.VERDICTS or vocab.REACH_VERDICTS; None when there is no interval
    method: str = WHOLE_RUNS

    @property
    def label(self) -> str:
        size = f"w{self.width}" if self.width is not None else f"{self.params or '?'} params"
        labels = "? labels" if self.labels is None else f"{self.labels:.0f} labels"
        return f"{size} \u00d7 {labels} \u00d7 {self.strategy}"

    def reached(self) -> int:
        """How many of the transfer runs reached the target (by series, else as logged)."""
        return sum(1 for r in self.runs if r.reached is True)

    def scratch_reached(self) -> int:
        return sum(1 for r in self.scratch if r.reached is True)

    def best(self, metric: str = TARGET_METRIC) -> float | None:
        """The best ``metric`` the transfer runs reached: the best of each run's series held
        to the target where it has one, else its final value (None when none logged it)."""
        values = [
            v
            for v in (r.series_best if r.series_best is not None else r.metric(metric)
                      for r in self.runs)
            if v is not None
        ]  # fmt: skip
        return max(values) if values else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "width": self.width, "params": self.params,
            "labels": None if self.labels is None else int(self.labels),
            "strategy": self.strategy, "repeats": len(self.runs),
            "scratch_repeats": len(self.scratch), "basis": self.basis, "method": self.method,
            "saving_pct": self.saving_pct, "saving_pct_low": self.saving_pct_low,
            "saving_pct_high": self.saving_pct_high, "verdict": self.verdict,
            "reached_target": self.reached(), "scratch_reached_target": self.scratch_reached(),
            "best_accuracy": self.best(),
        }  # fmt: skip


def _reach_verdict(reached: int, scratch_reached: int) -> str | None:
    """The verdict of a cell where a side has no run at the target (None: both have)."""
    if reached == 0:
        return NEITHER_REACHES if scratch_reached == 0 else NOT_REACHED
    return ONLY_TRANSFER_REACHES if scratch_reached == 0 else None


def _cell(key: tuple[Any, Any, str], group: list[RunFigures], peers: list[RunFigures]):
    """One transfer cell against its scratch cell; None when no figure compares them."""
    params, labels, strategy = key
    width = number(group[0].metrics.get("width"))
    size = None if width is None else int(width)
    head = (strategy, size, params, labels, tuple(group), tuple(peers))
    at_target = all(r.reached is not None for r in (*group, *peers))
    method = EQUAL_QUALITY if at_target else WHOLE_RUNS
    found = basis_of([*peers, *group])
    if found is None:
        return None
    if at_target:  # equal quality: compare only the runs that reached the target
        group, peers = [r for r in group if r.reached], [r for r in peers if r.reached]
        reach = _reach_verdict(len(group), len(peers))
        if reach is not None:
            return Cell(*head, found[0], None, None, None, reach, method)
        found = basis_of([*peers, *group])  # a subset: known wherever the whole is
    name, values = found or ("-", [])
    pct, low, high = saving_interval(values[: len(peers)], values[len(peers) :])
    say = verdict(low, high) or (TOO_FEW_REACHED if at_target else None)
    return Cell(*head, name, pct, low, high, say, method)


def cells(runs: Iterable[RunFigures]) -> list[Cell]:
    """Group runs into cells (strategy, model size, labelled data) and compare each transfer cell
    with the scratch cell of the same size and data (at equal quality when every run logged
    ``reached_target``, see :class:`Cell`); sorted by width/size, labels, strategy."""
    groups: dict[tuple[Any, Any, str], list[RunFigures]] = {}
    for r in runs:
        groups.setdefault((r.params, r.labelled, r.strategy), []).append(r)
    out = []
    for (params, labels, strategy), group in groups.items():
        peers = groups.get((params, labels, SCRATCH))
        if strategy == SCRATCH or not peers:
            continue
        cell = _cell((params, labels, strategy), group, peers)
        if cell is not None:
            out.append(cell)
    out.sort(key=lambda c: (c.width or 0, c.params or 0, c.labels or 0, c.strategy))
    return out


# ----------------------------------------------------------------- the cost-quality frontier


@dataclass(frozen=True)
class FrontierPoint:
    """A strategy's best ``value`` of the target metric among runs that cost at most
    ``cost_usd`` (the run that set it: ``run_id``)."""

    strategy: str
    cost_usd: float
    value: float
    run_id: str


def frontier(
    points: Iterable[tuple[str, float | None, float | None, str]], *, higher_is_better: bool = True
) -> dict[str, list[FrontierPoint]]:
    """For each strategy, the best metric reached for each dollar spent: from (strategy, cost
    US$, metric value, run id) points, those that improve on every cheaper point of their
    strategy, cheapest first. Points without a cost or a value are left out."""
    by_strategy: dict[str, list[tuple[float, float, str]]] = {}
    for strategy, cost, value, run_id in points:
        if cost is not None and value is not None:
            by_strategy.setdefault(strategy, []).append((float(cost), float(value), run_id))
    sign = 1.0 if higher_is_better else -1.0
    out: dict[str, list[FrontierPoint]] = {}
    for strategy, rows in sorted(by_strategy.items()):
        best, kept = None, []
        for cost, value, run_id in sorted(rows, key=lambda r: (r[0], -sign * r[1])):
            if best is None or sign * value > sign * best:
                best = value
                kept.append(FrontierPoint(strategy, cost, value, run_id))
        out[strategy] = kept
    return out


def run_points(
    runs: Iterable[RunFigures], metric: str = TARGET_METRIC
) -> list[tuple[str, float | None, float | None, str]]:
    """The frontier's input, (strategy, billed cost US$, ``metric``, run id): each evaluation of
    a run's series (priced at the cost spent up to it) where the run has one, else its final
    value at its whole cost."""
    out: list[tuple[str, float | None, float | None, str]] = []
    for r in runs:
        if r.series:
            out.extend((r.strategy, cost, value, r.id) for cost, value in r.series)
        else:
            out.append((r.strategy, r.cost_usd, r.metric(metric), r.id))
    return out


# ----------------------------------------------------------------- the summary line


def _where(c: Cell) -> str:
    return c.label.rsplit(" \u00d7 ", 1)[0]


def _strategy_sentence(strategy: str, group: list[Cell], target: str) -> str:
    saves = sorted((c for c in group if c.verdict == SAVES), key=lambda c: -(c.saving_pct or 0))
    if all(c.reached() == 0 for c in group):
        best = max((b for b in (c.best() for c in group) if b is not None), default=None)
        tail = "" if best is None else f": best {score(best)}"
        return f"{strategy} never reaches {target} at any budget here{tail}"
    if saves:
        top = saves[0]
        more = f" (saves in {len(saves)} of {len(group)} cells)" if len(saves) > 1 else ""
        return (f"{strategy} reaches {target} for {top.saving_pct:.0f}% less at "
                f"{_where(top)}{more}")  # fmt: skip
    only = [c for c in group if c.verdict == ONLY_TRANSFER_REACHES]
    if only:
        return f"{strategy} reaches {target} where scratch does not, at {_where(only[0])}"
    counts = {v: sum(c.verdict == v for c in group) for v in {c.verdict for c in group}}
    said = ", ".join(f"{n} {v}" for v, n in sorted(counts.items(), key=lambda kv: str(kv[0])))
    return f"{strategy} saves nowhere at {target} ({said})"


def summary(found: Iterable[Cell], target: str) -> str:
    """One line per the answer: per strategy, where it reaches ``target`` (e.g. ``95%``) for
    less, or that it never reaches it (with the best it reached), or that it saves nowhere."""
    groups: dict[str, list[Cell]] = {}
    for c in found:
        groups.setdefault(c.strategy, []).append(c)
    if not groups:
        return "No transfer cell could be compared with scratch."
    return "; ".join(_strategy_sentence(s, g, target) for s, g in sorted(groups.items())) + "."
