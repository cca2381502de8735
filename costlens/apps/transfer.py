"""The measured transfer-versus-scratch analysis: the ONE comparison the demo and the
dashboard's transfer page share.

Given public run records (``costlens.store.queries.run_record``, with or without cost keys) and
a :class:`~costlens.price.tables.PriceTable` for dollars, each transfer run
(``TRANSFER_STRATEGIES``)
is paired with the scratch runs it should be compared with: the same model size (parameters)
and the same labelled data when there are any, else the same model size, else every scratch
run (``basis`` says which; the scratch figure is the median of the matched runs). Each pair
carries its savings per budget (cost, time, energy, labelled data) with the two figures it
comes from, and its dollar saving and ROI. Savings are measured, never assumed: a negative
saving means transfer used more. No pandas, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import median
from typing import TYPE_CHECKING, Any

import numpy as np

from costlens.core.units import J_PER_KWH, S_PER_H, finite_or_none
from costlens.core.vocab import COSTS_MORE, SAVES, SCRATCH, TRANSFER_STRATEGIES, WITHIN_NOISE

if TYPE_CHECKING:
    from costlens.price.tables import PriceTable
    from costlens.store.models import RunRecord

# (budget name, RunFigures attribute): what a transfer run can save against scratch.
BUDGETS: tuple[tuple[str, str], ...] = (
    ("cost", "cost_usd"),
    ("time", "duration_h"),
    ("energy", "energy_kwh"),
    ("labelled data", "labelled"),
)
SAME_SIZE_AND_DATA = "same model size and labelled data"
SAME_SIZE = "same model size"
ALL_SCRATCH = "median of all scratch runs: none of the same size"
LABELLED_METRIC = "labelled_samples"  # the metric a run logs its labelled samples under


@dataclass(frozen=True)
class RunFigures:
    """One compared run's measured figures (None where unknown)."""

    id: str
    name: str
    strategy: str
    cost_usd: float | None
    duration_h: float | None
    energy_kwh: float | None
    labelled: float | None  # labelled samples: the logged metric, else samples seen
    params: int | None
    metrics: dict[str, Any]
    # From its metric series held to a target (costlens.price.target.with_target), where the
    # run has one: whether any evaluation reached it, the billed cost to the first that did,
    # the best value of the series, and (cost US$ so far, value) at each evaluation.
    series_reached: bool | None = None
    cost_to_target_usd: float | None = None
    series_best: float | None = None
    series: tuple[tuple[float, float], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.strategy}: {self.name or self.id[:8]}"

    @property
    def reached(self) -> bool | None:
        """Whether the run reached its quality target: by its metric series where it has one,
        else as it logged (``reached_target``); None when neither says."""
        if self.series_reached is not None:
            return self.series_reached
        value = self.metrics.get("reached_target")
        return value if isinstance(value, bool) else None

    def metric(self, name: str | None) -> float | None:
        """A logged numeric metric (None when not logged or not a number)."""
        value = self.metrics.get(name) if name else None
        return number(value)

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> RunFigures:
        metrics = r.get("metrics") or {}
        energy = finite_or_none(r.get("energy_kwh"))
        if energy is None and r.get("energy_j") is not None:
            energy = float(r["energy_j"]) / J_PER_KWH
        duration = finite_or_none(r.get("duration_s"))
        labelled = number(metrics.get(LABELLED_METRIC, r.get("samples")))
        has_series = r.get("target_best_value") is not None  # held to a target, with a series
        return cls(
            id=str(r["id"]),
            name=str(r.get("name") or ""),
            strategy=str(r["strategy"]),
            cost_usd=finite_or_none(r.get("cost_usd")),
            duration_h=None if duration is None else duration / S_PER_H,
            energy_kwh=energy,
            labelled=labelled,
            params=r.get("params_total") or None,
            metrics=dict(metrics),
            series_reached=bool(r["target_reached"]) if has_series else None,
            cost_to_target_usd=finite_or_none(r.get("cost_to_target_usd")),
            series_best=finite_or_none(r.get("target_best_value")),
            series=tuple((float(c), float(v)) for c, v in r.get("target_series") or ()),
        )


@dataclass(frozen=True)
class Saving:
    """What a transfer run saved on one budget: ``saving_pct`` = 100 (scratch - transfer) /
    scratch, from the two figures it names (negative: transfer used more)."""

    budget: str
    scratch: float
    transfer: float
    saving_pct: float


@dataclass(frozen=True)
class Pair:
    """A transfer run and the scratch runs it is compared with."""

    transfer: RunFigures
    scratch: tuple[RunFigures, ...]
    basis: str
    savings: tuple[Saving, ...]
    savings_usd: float | None  # median scratch cost - transfer cost
    roi: float | None  # savings_usd / transfer cost

    @property
    def exact(self) -> bool:
        """True when the scratch runs have the same model size and labelled data."""
        return self.basis == SAME_SIZE_AND_DATA

    def saving(self, budget: str) -> Saving | None:
        return next((s for s in self.savings if s.budget == budget), None)

    def scratch_median(self, attribute: str) -> float | None:
        return _median(getattr(r, attribute) for r in self.scratch)

    def scratch_metric(self, name: str | None) -> float | None:
        return _median(r.metric(name) for r in self.scratch)


@dataclass(frozen=True)
class TransferAnalysis:
    """The compared runs (newest first), their pairs, and what was left out."""

    runs: tuple[RunFigures, ...]
    pairs: tuple[Pair, ...]
    excluded: int = 0  # runs of a compared strategy that did not complete
    older: int = 0  # completed runs beyond ``newest_per_strategy``

    @property
    def scratch_runs(self) -> tuple[RunFigures, ...]:
        return tuple(r for r in self.runs if r.strategy == SCRATCH)

    @property
    def transfer_runs(self) -> tuple[RunFigures, ...]:
        return tuple(r for r in self.runs if r.strategy != SCRATCH)

    @property
    def priced(self) -> tuple[Pair, ...]:
        """Pairs with a dollar saving and a priced (non-free) transfer run: those with an ROI."""
        return tuple(p for p in self.pairs if p.roi is not None)

    @property
    def cheaper(self) -> int:
        """How many priced pairs cost less than scratch."""
        return sum(1 for p in self.priced if p.savings_usd is not None and p.savings_usd > 0)

    def metric_names(self) -> list[str]:
        """Numeric result metrics the runs logged (accuracy, loss...), most often logged first;
        set-up and timing figures (DESCRIPTOR_METRICS: width, epochs, labels...) aside."""
        counts: dict[str, int] = {}
        for r in self.runs:
            for k, v in r.metrics.items():
                if k not in DESCRIPTOR_METRICS and number(v) is not None:
                    counts[k] = counts.get(k, 0) + 1
        return sorted(counts, key=lambda k: (-counts[k], k))


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return finite_or_none(value)


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(median(known)) if known else None


def match_scratch(
    scratch: Sequence[RunFigures], t: RunFigures
) -> tuple[tuple[RunFigures, ...], str]:
    """The scratch runs to compare transfer run ``t`` with, and a phrase saying which."""
    same_size = tuple(s for s in scratch if t.params and s.params == t.params)
    same_data = tuple(s for s in same_size if s.labelled == t.labelled)
    if t.labelled is not None and same_data:
        return same_data, SAME_SIZE_AND_DATA
    if same_size:
        return same_size, SAME_SIZE
    return tuple(scratch), ALL_SCRATCH


def pair(t: RunFigures, scratch: Sequence[RunFigures]) -> Pair:
    """Transfer run ``t`` against its matched scratch runs (see :func:`match_scratch`)."""
    peers, basis = match_scratch(scratch, t)
    savings = []
    for budget, attribute in BUDGETS:
        base, value = _median(getattr(r, attribute) for r in peers), getattr(t, attribute)
        if base is None or value is None or base <= 0:
            continue
        savings.append(Saving(budget, base, value, 100.0 * (base - value) / base))
    base_cost = _median(r.cost_usd for r in peers)
    saved = None if base_cost is None or t.cost_usd is None else base_cost - t.cost_usd
    roi = saved / t.cost_usd if saved is not None and t.cost_usd else None
    return Pair(t, peers, basis, tuple(savings), saved, roi)


def select_runs(
    records: Iterable[dict[str, Any]], newest_per_strategy: int | None = None
) -> tuple[list[dict[str, Any]], int, int]:
    """(completed scratch and transfer records, newest first, at most ``newest_per_strategy`` of
    each strategy; how many unfinished ones were left out; how many older completed ones)."""
    compared = [r for r in records if r.get("strategy") in (SCRATCH, *TRANSFER_STRATEGIES)]
    compared.sort(key=lambda r: r.get("started_at") or "", reverse=True)
    done = [r for r in compared if r.get("status") == "completed"]
    kept, seen = [], {}
    for r in done:
        seen[r["strategy"]] = seen.get(r["strategy"], 0) + 1
        if newest_per_strategy is None or seen[r["strategy"]] <= newest_per_strategy:
            kept.append(r)
    return kept, len(compared) - len(done), len(done) - len(kept)


def priced_records(records: list[RunRecord], prices: PriceTable) -> list[dict[str, Any]]:
    """Records with costlens.price's cost_usd, gpu_hours, energy_kwh and mfu from ``prices``."""
    from costlens.price import add_cost_columns

    return add_cost_columns(records, prices=prices)


def analyse(
    records: Iterable[dict[str, Any]],
    *,
    prices: PriceTable | None = None,
    newest_per_strategy: int | None = None,
) -> TransferAnalysis:
    """Pair every completed transfer run with its scratch runs (see the module docstring).

    With ``prices`` the selected records are priced first; without, their own ``cost_usd`` (if
    any) is used.
    """
    kept, excluded, older = select_runs(records, newest_per_strategy)
    if prices is not None:
        kept = priced_records(kept, prices)
    runs = tuple(RunFigures.from_record(r) for r in kept)
    scratch = [r for r in runs if r.strategy == SCRATCH]
    pairs = tuple(pair(t, scratch) for t in runs if t.strategy != SCRATCH) if scratch else ()
    return TransferAnalysis(runs, pairs, excluded, older)


# ----------------------------------------------------------------- repeated cells, with verdicts

CPU_TIME_METRIC = "train_cpu_s"  # the training thread's CPU seconds, logged by the demo's runs
CPU_TIME_BASIS = "training-thread CPU time"
CELL_CONFIDENCE = 0.95  # two-sided: a cell's saving interval
TARGET_METRIC = "accuracy"  # the metric the demo's target is on (logged with reached_target)
EQUAL_QUALITY = "cost to target: only runs that reached the target compared, reach rate beside"
WHOLE_RUNS = "whole runs: no quality target logged"
# Logged figures that describe a run's set-up or its timing, not a result of training.
DESCRIPTOR_METRICS = frozenset(
    {
        LABELLED_METRIC,
        CPU_TIME_METRIC,
        "width",
        "epochs",
        "target_accuracy",
        "repeat",
        "seed",
    }
)


def verdict(low: float | None, high: float | None) -> str | None:
    """``saves`` when the whole interval is above 0, ``costs more`` below, else ``within
    noise``; None without an interval."""
    if low is None or high is None:
        return None
    return SAVES if low > 0 else COSTS_MORE if high < 0 else WITHIN_NOISE


def saving_interval(
    scratch: Sequence[float], transfer: Sequence[float], confidence: float = CELL_CONFIDENCE
) -> tuple[float, float | None, float | None]:
    """(saving %, low, high) of ``transfer`` against ``scratch`` (positive figures, e.g. CPU
    seconds): 100 (1 - ratio of geometric means), with a Welch t interval on the log ratio."""
    from scipy.stats import t as student_t

    ls, lt = np.log(np.asarray(scratch, float)), np.log(np.asarray(transfer, float))
    d = float(lt.mean() - ls.mean())
    point = 100.0 * (1.0 - math.exp(d))
    if len(ls) < 2 or len(lt) < 2:
        return point, None, None
    vs, vt = ls.var(ddof=1) / len(ls), lt.var(ddof=1) / len(lt)
    se = math.sqrt(vs + vt)
    if se == 0:
        return point, point, point
    df = (vs + vt) ** 2 / (vs**2 / (len(ls) - 1) + vt**2 / (len(lt) - 1))
    q = float(student_t.ppf(0.5 + confidence / 2, df)) * se
    return point, 100.0 * (1.0 - math.exp(d + q)), 100.0 * (1.0 - math.exp(d - q))


def basis_of(runs: Sequence[RunFigures]) -> tuple[str, list[float]] | None:
    """The figure the runs are compared on: CPU time when every run logged it, else cost when
    every run is priced, else wall time; None when no figure is known and positive for all."""
    for basis, get in (
        (CPU_TIME_BASIS, lambda r: r.metric(CPU_TIME_METRIC)),
        ("cost", lambda r: r.cost_usd),
        ("wall time", lambda r: r.duration_h),
    ):
        values = [get(r) for r in runs]
        if all(v is not None and v > 0 for v in values):
            return basis, [float(v) for v in values]
    return None
