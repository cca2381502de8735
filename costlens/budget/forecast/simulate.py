"""Monte Carlo: seeded draws of every run of every job, summed per group.

Each draw picks one of :data:`GRID_SIZE` equiprobable standard-normal quantiles (inverse-transform
sampling from 16 random bits), which makes a run's value a table lookup
(``benchmarks/forecast_plan.py`` measures it against a naive loop).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from costlens.budget.forecast.distribution import QUANTITIES, Z90, Dist
from costlens.core.validate import check_memory

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

DEFAULT_SIMS = 10_000
DEFAULT_SEED = 20_240_601
GRID_SIZE = 65_536  # equiprobable standard-normal atoms a draw is taken from (see simulate)
ProgressFn = Callable[[str, int, int], None]


@dataclass
class SimResult:
    """Sums of draws per group, each (n_groups, n_sims): ``groups[q]`` for the plan's quantities,
    ``alt_cost[name]`` for each alternative (what-if) plan's cost; per-job P10/P90 of the plan."""

    groups: dict[str, np.ndarray]
    alt_cost: dict[str, np.ndarray] = field(default_factory=dict)
    job_low: dict[str, np.ndarray] = field(default_factory=dict)
    job_high: dict[str, np.ndarray] = field(default_factory=dict)


@functools.lru_cache(maxsize=4)
def normal_grid(size: int = GRID_SIZE) -> np.ndarray:
    """The standard normal's quantiles at (k + 0.5) / size: ``size`` equiprobable atoms."""
    import numpy as np
    from scipy.special import ndtri

    return ndtri((np.arange(size) + 0.5) / size)


@dataclass
class _Output:
    """One simulated figure: per job, median and log-sds of a run, and a fixed once-per-job add."""

    median: np.ndarray
    sigma_lo: np.ndarray
    sigma_hi: np.ndarray
    fixed: np.ndarray | None = None


class _Layout:
    """The jobs in group order (a chunk then touches few groups) with one lookup table per
    distinct (sigma_lo, sigma_hi) and a table id per (output, job)."""

    def __init__(self, outputs: list[_Output], repeats: np.ndarray, group: np.ndarray) -> None:
        import numpy as np

        self.outputs = outputs
        self.n_out = len(outputs)
        self.perm = perm = np.argsort(group, kind="stable")
        self.reps = np.asarray(repeats)[perm]
        self.grp = np.asarray(group)[perm]
        self.med = np.stack([np.where(o.median > 0, o.median, 0.0)[perm] for o in outputs])
        sig = np.stack(
            [np.stack([o.sigma_lo[perm] for o in outputs]),
             np.stack([o.sigma_hi[perm] for o in outputs])], -1
        ).reshape(-1, 2)  # fmt: skip
        # (rounded to 1e-12: the same interval computed two ways must share its table)
        self.shapes, tid = np.unique(np.round(sig, 12), axis=0, return_inverse=True)
        self.tid = tid.reshape(self.n_out, len(perm))
        self.n_tables = len(self.shapes)
        self.run_start = np.concatenate(([0], np.cumsum(self.reps)))
        self._tables: dict[int, np.ndarray] = {}

    def table(self, t: int) -> np.ndarray:
        """exp(sigma * z) over the normal grid for table ``t``."""
        import numpy as np

        if t not in self._tables:
            lo, hi = self.shapes[t]
            grid = normal_grid()
            self._tables[t] = np.exp(np.where(grid < 0, lo * grid, hi * grid))
        return self._tables[t]


@dataclass
class _Draws:
    rng: np.random.Generator
    shared: np.ndarray | None  # the shared factor of every draw (correlation > 0), else None
    a: float  # weight of the shared factor
    b: float  # weight of a run's own draw


def _grid_draws(rng: np.random.Generator, rows: int, n_sims: int) -> np.ndarray:
    """(rows, n_sims) uniform indices into the normal grid (16 random bits each)."""
    import numpy as np

    n = rows * n_sims
    raw = rng.bit_generator.random_raw(-(-n // 4))
    return raw.view(np.uint16)[:n].reshape(rows, n_sims)


def _lookup(tab, idx, rows, shape, draws: _Draws) -> np.ndarray:
    """exp(sigma * z) for the draws ``idx[rows]`` (all rows when None): a table lookup, or (with
    a shared factor) computed from z = a * shared + b * own."""
    import numpy as np

    sub = idx if rows is None else idx[rows]
    if draws.shared is None:
        return tab[sub]
    z = normal_grid()[sub]
    z *= draws.b
    z += draws.a * draws.shared
    lo, hi = shape
    return np.exp(np.where(z < 0, lo * z, hi * z))


def _pair_sums(lay: _Layout, job: int, stop: int, idx, pair_keys, draws: _Draws) -> np.ndarray:
    """(pairs, n_sims): the sum over each (job, table) pair's runs of exp(sigma * z)."""
    import numpy as np
    import scipy.sparse as sp

    r0, r1 = int(lay.run_start[job]), int(lay.run_start[stop])
    p_job, p_tid = pair_keys // lay.n_tables, pair_keys % lay.n_tables
    p_rep = lay.reps[job + p_job]
    per_pair = None
    for t in np.unique(p_tid):
        pt = np.flatnonzero(p_tid == t)  # this table's pairs, each with its job's runs
        n_rep = p_rep[pt]
        first = lay.run_start[job + p_job[pt]] - r0
        rows = np.repeat(first - np.cumsum(n_rep) + n_rep, n_rep) + np.arange(n_rep.sum())
        whole = len(pt) == len(pair_keys) and len(rows) == r1 - r0
        tab = lay.table(int(t))
        block = _lookup(tab, idx, None if whole else rows, lay.shapes[t], draws)
        if (n_rep > 1).any():  # add up each job's runs
            summer = sp.csr_matrix(
                (np.ones(len(rows)), (np.repeat(np.arange(len(pt)), n_rep),
                                      np.arange(len(rows)))),
                shape=(len(pt), len(rows)),
            )  # fmt: skip
            block = summer @ block
        if whole:
            per_pair = block
        else:
            if per_pair is None:
                per_pair = np.empty((len(pair_keys), idx.shape[1]))
            per_pair[pt] = block
    return per_pair  # type: ignore[return-value]


def _job_quantiles(lay, job, stop, per_pair, cols, ok, job_rel, n_q, rel_cache) -> None:
    """Per-job P10/P90 of jobs with several runs: computed once per (table, repeats)."""
    import numpy as np

    reps = lay.reps
    for k in range(n_q):
        multi = np.flatnonzero((reps[job:stop] > 1) & ok[k])
        if not len(multi):
            continue
        ck = lay.tid[k, job + multi] * (int(reps.max()) + 1) + reps[job + multi]
        for c, first_j in zip(*np.unique(ck, return_index=True), strict=True):
            if int(c) not in rel_cache:
                p10, p90 = np.percentile(per_pair[cols[k, multi[first_j]]], [10, 90])
                rel_cache[int(c)] = (float(p10), float(p90))
        lo_hi = np.array([rel_cache[int(c)] for c in ck])
        job_rel[k][0][job + multi] = lo_hi[:, 0]
        job_rel[k][1][job + multi] = lo_hi[:, 1]


def _chunk(lay: _Layout, job: int, stop: int, n_sims: int, draws: _Draws, sums, quant) -> None:
    """Draw the runs of jobs ``job:stop`` and add them into ``sums`` (and per-job quantiles)."""
    import numpy as np
    import scipy.sparse as sp

    r0, r1 = int(lay.run_start[job]), int(lay.run_start[stop])
    idx = _grid_draws(draws.rng, r1 - r0, n_sims)
    local = np.arange(stop - job)
    # the (job, table) pairs this chunk needs, job-major
    used = lay.med[:, job:stop] > 0
    used[0] = True  # every job has its plan-cost pair (never an empty chunk)
    keys_all = local * lay.n_tables + lay.tid[:, job:stop]
    pair_keys = np.unique(keys_all[used])
    per_pair = _pair_sums(lay, job, stop, idx, pair_keys, draws)
    # weighted sums into the groups this chunk touches (one sparse product for all outputs)
    g_local, g_of_job = np.unique(lay.grp[job:stop], return_inverse=True)
    cols = np.searchsorted(pair_keys, keys_all)
    ok = lay.med[:, job:stop] > 0
    o_idx, j_idx = np.nonzero(ok)
    weights = sp.csr_matrix(
        (lay.med[:, job:stop][ok], (o_idx * len(g_local) + g_of_job[j_idx], cols[ok])),
        shape=(lay.n_out * len(g_local), len(pair_keys)),
    )
    sums[:, g_local] += (weights @ per_pair).reshape(lay.n_out, len(g_local), n_sims)
    _job_quantiles(lay, job, stop, per_pair, cols, ok, *quant)


def simulation_bytes(n_sims: int, n_sums: int, chunk_runs: int) -> float:
    """Memory :func:`simulate` holds at its peak: the sums (float64 per group and output) and
    one chunk of draws (16-bit indices, a float64 lookup and a float64 sum per run)."""
    return float(n_sims) * (8.0 * n_sums + 18.0 * chunk_runs)


def simulate(
    dist: Dist,
    repeats: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    *,
    alternatives: Mapping[str, Dist] | None = None,
    n_sims: int = DEFAULT_SIMS,
    seed: int = DEFAULT_SEED,
    correlation: float = 0.0,
    job_quantiles: bool = True,
    progress: ProgressFn | None = None,
    stage: str = "simulating",
    chunk_elems: int = 2_000_000,
) -> SimResult:
    """Monte Carlo sums per group for the plan ``dist`` (and the cost of each alternative plan).

    Every run of every job draws one standard normal per simulation, shared by its cost,
    GPU-hours and energy and by the same run in every alternative plan (common random numbers:
    differences between plans get honest intervals). A draw is one of :data:`GRID_SIZE`
    equiprobable normal quantiles picked uniformly at random (inverse-transform sampling from a
    16-bit uniform; a run's percentiles move by under 0.01%), so a run's
    ``median * exp(sigma * z)`` becomes a lookup in a table per distinct (sigma_lo, sigma_hi):
    several times faster than drawing normals and exponentiating (benchmarks/forecast_plan.py).
    With ``correlation`` rho each draw is ``sqrt(rho) * shared + sqrt(1 - rho) * own`` (computed
    directly, slower). Draws depend only on ``seed``, ``n_sims``, ``chunk_elems`` and the jobs'
    repeats and groups; runs are processed in chunks of about ``chunk_elems`` draws.
    """
    import numpy as np

    n_jobs = len(repeats)
    alternatives = dict(alternatives or {})
    outputs = [
        _Output(dist.median[q], dist.sigma_lo[q], dist.sigma_hi[q],
                dist.label_usd if q == "cost_usd" else None)
        for q in QUANTITIES
    ] + [
        _Output(d.median["cost_usd"], d.sigma_lo["cost_usd"], d.sigma_hi["cost_usd"], d.label_usd)
        for d in alternatives.values()
    ]  # fmt: skip
    lay = _Layout(outputs, repeats, group)
    rows_per_chunk = max(1, chunk_elems // n_sims)
    check_memory(
        simulation_bytes(n_sims, lay.n_out * n_groups, max(rows_per_chunk, int(lay.reps.max()))),
        f"{n_sims:,} simulations (--sims) of {int(lay.run_start[-1]):,} runs (repeats)",
    )
    shared = None
    if correlation > 0:
        shared = np.random.default_rng([seed, 1]).standard_normal(n_sims)
    a, b = math.sqrt(correlation), math.sqrt(max(1.0 - correlation, 0.0))
    draws = _Draws(np.random.default_rng(seed), shared, a, b)

    sums = np.zeros((lay.n_out, n_groups, n_sims))
    n_runs = int(lay.run_start[-1])
    n_q = 3 if job_quantiles else 0
    job_rel = [
        [np.exp(-Z90 * outputs[k].sigma_lo[lay.perm]) * lay.reps,  # exact for a single run
         np.exp(Z90 * outputs[k].sigma_hi[lay.perm]) * lay.reps]
        for k in range(n_q)
    ]  # fmt: skip
    rel_cache: dict[int, tuple[float, float]] = {}  # (table, repeats) -> P10, P90 of the sum
    job = 0
    while job < n_jobs:
        # whole jobs, about rows_per_chunk runs (a job is never split across chunks)
        start = lay.run_start[job] + rows_per_chunk
        stop = int(np.searchsorted(lay.run_start, start, side="right")) - 1
        stop = min(max(stop, job + 1), n_jobs)
        _chunk(lay, job, stop, n_sims, draws, sums, (job_rel, n_q, rel_cache))
        job = stop
        if progress:
            progress(stage, int(lay.run_start[stop]), n_runs)
    return _result(lay, sums, group, n_groups, job_rel, n_q, list(alternatives))


def _result(lay: _Layout, sums, group, n_groups, job_rel, n_q, alt_names) -> SimResult:
    import numpy as np

    res = SimResult({})
    for o, out in enumerate(lay.outputs):
        if out.fixed is not None:  # once per job (labels): a constant per group
            sums[o] += np.bincount(group, weights=out.fixed, minlength=n_groups)[:, None]
    inv = np.empty_like(lay.perm)
    inv[lay.perm] = np.arange(len(lay.perm))
    for k, q in enumerate(QUANTITIES):
        res.groups[q] = sums[k]
        if k < n_q:
            out = lay.outputs[k]
            fixed = out.fixed if out.fixed is not None else 0.0
            res.job_low[q] = out.median * job_rel[k][0][inv] + fixed
            res.job_high[q] = out.median * job_rel[k][1][inv] + fixed
    for i, name in enumerate(alt_names):
        res.alt_cost[name] = sums[3 + i]
    return res
