"""The estimator adapter: planned jobs -> ``Scenario`` -> ``Estimate``, deduplicated, batched
for progress, with errors that name the plan line of the job the estimator refused."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from costlens.budget.plan import PlannedJob
from costlens.core.errors import (
    EstimatorError,
    PlanError,
    PriceNotFoundError,
    UnknownAcceleratorError,
)
from costlens.estimator import Estimate, Scenario

if TYPE_CHECKING:  # pragma: no cover
    from costlens.budget.forecast.distribution import Dist
    from costlens.budget.forecast.simulate import ProgressFn

# estimate_fn(scenarios, model=..., prices=...) -> list[Estimate]; default: estimate_many
EstimateFn = Callable[..., list[Estimate]]
BatchFn = Callable[[list[Scenario]], list[Estimate]]
PROGRESS_BATCH = 2_000
_REFUSALS = (EstimatorError, PriceNotFoundError, UnknownAcceleratorError)


def job_scenario(job: PlannedJob, **override: Any) -> Scenario:
    """The estimator ``Scenario`` for one run of ``job`` (``override`` replaces fields)."""
    fields: dict[str, Any] = {
        "params": job.params,
        "tokens": job.total_tokens,
        "strategy": job.strategy,
        "gpu": job.gpu,
        "gpus": job.gpus,
        "precision": job.precision,
        "provider": job.provider,
        "instance": job.instance,
        "spot": job.spot,
        "trainable_fraction": job.trainable_fraction,
        "labelled_samples": job.labelled_samples,
        "usd_per_label": job.usd_per_label,
        "epochs": job.epochs,  # frozen-features: the frozen forward runs once per sample
        "seq_len": job.seq_len,  # fine-tunes given as samples x seq_len: the attention term
    }
    fields.update(override)
    return Scenario(**fields)


def estimate_all(
    jobs: Sequence[PlannedJob],
    scenarios: Sequence[Scenario],
    estimate: BatchFn,
    progress: ProgressFn | None,
    stage: str,
) -> list[Estimate]:
    """Estimates for ``scenarios`` (deduplicated; batched for progress). Errors name the job."""
    keys: dict[Scenario, int] = {}
    unique: list[Scenario] = []
    index: list[int] = []
    for s in scenarios:
        if s not in keys:
            keys[s] = len(unique)
            unique.append(s)
        index.append(keys[s])
    out: list[Estimate] = []
    total = len(unique)
    for start in range(0, total, PROGRESS_BATCH):
        batch = unique[start : start + PROGRESS_BATCH]
        try:
            out.extend(estimate(batch))
        except _REFUSALS as exc:
            _raise_for_job(jobs, scenarios, batch, estimate, exc)
        if progress:
            progress(stage, min(start + PROGRESS_BATCH, total), total)
    if len(out) != total:
        raise EstimatorError(f"the estimator returned {len(out)} estimates for {total} scenarios")
    return [out[i] for i in index]


def _raise_for_job(jobs, scenarios, batch, estimate: BatchFn, exc: Exception) -> None:
    """Find the first scenario of ``batch`` the estimator refuses and name its plan line."""
    for s in batch:
        try:
            estimate([s])
        except _REFUSALS as one:
            job = next(j for j, sc in zip(jobs, scenarios, strict=True) if sc == s)
            raise PlanError(
                f"job {job.name!r} cannot be estimated: {one}",
                path=job.path,
                line=job.line,
                column="provider" if isinstance(one, PriceNotFoundError) else None,
            ) from one
    raise exc


def require_costs(jobs: Sequence[PlannedJob], dist: Dist) -> None:
    """A job the estimator could not price (no price row) is a plan error at its line."""
    missing = [j for j, k in zip(jobs, dist.known["cost_usd"], strict=True) if not k]
    if missing:
        j = missing[0]
        raise PlanError(
            f"no price is known for job {j.name!r} ({j.gpus} x {j.gpu}); name a provider that "
            f"offers it, or add a row to a price file (--prices FILE)"
            + (f" ({len(missing) - 1} more such jobs)" if len(missing) > 1 else ""),
            path=j.path,
            line=j.line,
            column="provider",
        )
