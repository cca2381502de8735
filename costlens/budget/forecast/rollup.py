"""Result assembly: the simulated sums -> the jobs table, per month, per project, per
month x project and in total (expected = exact means; low/high = P10/P90 of simulated sums)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from costlens.budget.forecast.distribution import QUANTITIES, Dist, number
from costlens.budget.forecast.result import Totals
from costlens.budget.plan import PlannedJob

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from costlens.budget.forecast.simulate import SimResult
    from costlens.estimator import Estimate

JOB_COLUMNS = (
    "line", "name", "project", "month", "strategy", "params", "tokens", "gpu", "gpus", "precision",
    "provider", "instance_type", "spot", "usd_per_gpu_hour", "repeats",
    "cost_usd", "cost_usd_low", "cost_usd_high", "compute_cost_usd_per_run", "label_cost_usd",
    "gpu_hours", "gpu_hours_low", "gpu_hours_high", "energy_kwh", "energy_kwh_low",
    "energy_kwh_high", "energy_basis", "mfu_assumed", "extrapolation",
)  # fmt: skip


@dataclass
class Groups:
    """Jobs grouped by (month, project) pair; months, projects and the total are sums of pairs."""

    pairs: list[tuple[str, str]]
    group: np.ndarray  # job -> pair
    months: list[str]
    projects: list[str]
    month_of_pair: np.ndarray
    project_of_pair: np.ndarray

    @classmethod
    def of(cls, jobs: Sequence[PlannedJob]) -> Groups:
        import numpy as np

        pairs = sorted({(j.month, j.project) for j in jobs})
        pair_idx = {p: i for i, p in enumerate(pairs)}
        months = sorted({p[0] for p in pairs})
        projects = sorted({p[1] for p in pairs})
        return cls(
            pairs=pairs,
            group=np.array([pair_idx[(j.month, j.project)] for j in jobs], dtype=np.int64),
            months=months,
            projects=projects,
            month_of_pair=np.array([months.index(p[0]) for p in pairs]),
            project_of_pair=np.array([projects.index(p[1]) for p in pairs]),
        )


def interval(draws: np.ndarray, expected: float) -> tuple[float, float, float]:
    """(expected, P10, P90) of one simulated figure."""
    import numpy as np

    lo, hi = np.percentile(draws, [10, 90])
    return float(expected), float(lo), float(hi)


def summaries(
    draws: dict[str, np.ndarray], dist: Dist, repeats: np.ndarray, group: np.ndarray, n: int
) -> dict[str, np.ndarray]:
    """Per group: expected (exact), low and high (simulated) of each quantity."""
    import numpy as np

    out: dict[str, np.ndarray] = {}
    for q in QUANTITIES:
        out[q] = np.bincount(group, weights=dist.job_mean(q, repeats), minlength=n)
        out[f"{q}_low"], out[f"{q}_high"] = np.percentile(draws[q], [10, 90], axis=1)
    return out


def rollup(sim: SimResult, dist: Dist, repeats, g: Groups, index: np.ndarray, n: int):
    """(summaries, draws) of the groups ``index`` maps each pair onto."""
    import numpy as np

    onehot = np.zeros((n, len(g.pairs)))
    onehot[index, np.arange(len(g.pairs))] = 1.0
    draws = {q: onehot @ sim.groups[q] for q in QUANTITIES}
    return summaries(draws, dist, repeats, index[g.group], n), draws


def _counts(jobs: Iterable[PlannedJob], key: Callable[[PlannedJob], Any]) -> dict[Any, list[int]]:
    out: dict[Any, list[int]] = {}
    for j in jobs:
        c = out.setdefault(key(j), [0, 0])
        c[0] += 1
        c[1] += j.repeats
    return out


def summary_columns(key: str) -> list[str]:
    cols = [key, "jobs", "runs"]
    for q in QUANTITIES:
        cols += [q, f"{q}_low", f"{q}_high"]
    return cols


def group_frames(jobs, g: Groups, month_sum, project_sum, pair_sum):
    """(months, projects, month_projects) frames: counts and each figure with its P10/P90."""
    import pandas as pd

    counts_m = _counts(jobs, lambda j: j.month)
    counts_p = _counts(jobs, lambda j: j.project)
    counts_mp = _counts(jobs, lambda j: (j.month, j.project))

    def frame(keys: dict[str, list], counts, sums, columns: list[str]) -> pd.DataFrame:
        at = list(zip(*keys.values(), strict=True)) if len(keys) > 1 else next(iter(keys.values()))
        return pd.DataFrame(
            {
                **keys,
                "jobs": [counts[k][0] for k in at],
                "runs": [counts[k][1] for k in at],
                **sums,
            }
        )[columns]

    months = frame({"month": g.months}, counts_m, month_sum, summary_columns("month"))
    projects = frame({"project": g.projects}, counts_p, project_sum, summary_columns("project"))
    pair_keys = {"month": [p[0] for p in g.pairs], "project": [p[1] for p in g.pairs]}
    mp = frame(pair_keys, counts_mp, pair_sum, ["month", *summary_columns("project")])
    return months, projects, mp


def totals(jobs, dist: Dist, repeats, total_draws: dict[str, np.ndarray]) -> Totals:
    figures: dict[str, float] = {}
    for q in QUANTITIES:
        expected = float(dist.job_mean(q, repeats).sum())
        figures[q], figures[f"{q}_low"], figures[f"{q}_high"] = interval(total_draws[q], expected)
    return Totals(
        jobs=len(jobs),
        runs=int(repeats.sum()),
        energy_unknown_jobs=int((~dist.known["energy_kwh"]).sum()),
        **figures,
    )


def jobs_frame(
    jobs: Sequence[PlannedJob], estimates: Sequence[Estimate], dist: Dist, sim: SimResult, repeats
) -> pd.DataFrame:
    """One row per planned job (:data:`JOB_COLUMNS`); figures cover all its runs and labels."""
    import numpy as np
    import pandas as pd

    plan_cols = ("line", "name", "project", "month", "strategy", "params", "gpu", "gpus")
    plan_cols += ("precision",)
    cols: dict[str, Any] = {
        **{c: [getattr(j, c) for j in jobs] for c in plan_cols},
        "tokens": [j.total_tokens for j in jobs],  # every epoch
        "provider": [e.provider for e in estimates],
        "instance_type": [e.instance_type for e in estimates],
        "spot": [bool(e.spot) for e in estimates],
        "usd_per_gpu_hour": [number(e.usd_per_gpu_hour) for e in estimates],
        "repeats": repeats,
    }
    for q in QUANTITIES:
        known = dist.known[q]  # unknown (energy without a TDP): NaN here, left out of sums
        cols[q] = np.where(known, dist.job_mean(q, repeats), np.nan)
        cols[f"{q}_low"] = np.where(known, sim.job_low[q], np.nan)
        cols[f"{q}_high"] = np.where(known, sim.job_high[q], np.nan)
        if q == "cost_usd":
            cols["compute_cost_usd_per_run"] = dist.mean(q)
            cols["label_cost_usd"] = dist.label_usd
    cols["mfu_assumed"] = [number(e.mfu_assumed) for e in estimates]
    cols["extrapolation"] = [bool(e.extrapolation) for e in estimates]
    cols["energy_basis"] = [str(e.energy_basis or "") for e in estimates]
    return pd.DataFrame(cols)[list(JOB_COLUMNS)]
