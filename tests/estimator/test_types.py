"""The estimator's types: Interval, the one declaration of a job's fields, Estimate's JSON keys."""

from __future__ import annotations

import dataclasses
import math

import pytest

from costlens.budget.plan import PlannedJob
from costlens.core.errors import EstimatorError
from costlens.core.vocab import COVERAGE, DEFAULT_JOB_PRECISION
from costlens.estimator.types import Estimate, Interval, Scenario, TrainingJob

# The JSON keys of an estimate before Estimate held Intervals, in their order: CLI JSON, the
# forecast and the exports read them, so they must not change.
ESTIMATE_KEYS = (
    "strategy", "flops", "wall_hours", "wall_hours_low", "wall_hours_high", "gpu_hours",
    "gpu_hours_low", "gpu_hours_high", "cost_usd", "cost_usd_low", "cost_usd_high", "energy_kwh",
    "energy_kwh_low", "energy_kwh_high", "label_cost_usd", "total_cost_usd",
    "total_cost_usd_low", "total_cost_usd_high", "mfu_assumed", "extrapolation", "provider",
    "instance_type", "usd_per_gpu_hour", "spot", "gpu", "gpus", "precision",
    "flops_per_s_per_device", "energy_basis", "efficiency_basis", "instance_gpus",
    "usd_per_instance_hour", "price_confirmed", "model_flops", "flops_basis",
    "extrapolation_reason", "memory_gb_per_gpu", "fits", "min_gpus", "memory_basis",
    "single_gpu_instances", "gpu_hours_compute", "billed_overhead",
)  # fmt: skip


def test_an_interval_is_ordered_and_knows_its_level():
    i = Interval(2.0, 1.0, 4.0)
    assert i.level == COVERAGE == 0.8
    for bad in ((2.0, 3.0, 4.0), (2.0, 1.0, 1.5), (2.0, 5.0, 4.0)):
        with pytest.raises(EstimatorError, match="low <= point <= high"):
            Interval(*bad)
    with pytest.raises(EstimatorError, match="level"):
        Interval(2.0, 1.0, 4.0, level=1.0)
    unknown = Interval(math.nan, math.nan, math.nan)  # no price row: unknown, not wrong
    assert math.isnan(unknown.scaled(2.0).point)
    assert Interval(2.0, 2.0, 2.0).flat("x") == {"x": 2.0, "x_low": 2.0, "x_high": 2.0}


def test_an_interval_scales_and_shifts():
    i = Interval(2.0, 1.0, 4.0, level=0.9)
    assert i.scaled(3.0) == Interval(6.0, 3.0, 12.0, level=0.9)
    assert i.scaled(-1.0) == Interval(-2.0, -4.0, -1.0, level=0.9)  # bounds swap
    assert i.shifted(10.0) == Interval(12.0, 11.0, 14.0, level=0.9)
    assert i.flat("cost_usd") == {"cost_usd": 2.0, "cost_usd_low": 1.0, "cost_usd_high": 4.0}


def test_an_estimate_flattens_to_the_keys_it_always_had():
    one = Interval(2.0, 1.0, 4.0)
    e = Estimate(
        strategy="lora", flops=1e18, wall_hours=one, gpu_hours=one.scaled(8),
        cost_usd=one.scaled(16), energy_kwh=Interval(math.nan, math.nan, math.nan),
        label_cost_usd=5.0, total_cost_usd=one.scaled(16).shifted(5.0), mfu_assumed=0.4,
        extrapolation=False, provider="p", instance_type="i", usd_per_gpu_hour=2.0, spot=False,
    )  # fmt: skip
    d = e.as_dict()
    assert tuple(d) == ESTIMATE_KEYS
    assert (d["total_cost_usd"], d["total_cost_usd_low"], d["total_cost_usd_high"]) == (37, 21, 69)
    assert d["energy_kwh"] is None and d["energy_kwh_high"] is None  # NaN -> null


def test_a_scenario_and_a_planned_job_share_one_declaration_and_its_defaults():
    shared = {f.name: f for f in dataclasses.fields(TrainingJob)}
    assert len(shared) == 14 and issubclass(Scenario, TrainingJob)
    assert issubclass(PlannedJob, TrainingJob)
    for cls in (Scenario, PlannedJob):
        own = {f.name: f for f in dataclasses.fields(cls)}
        for name, f in shared.items():
            assert (own[name].default, own[name].type) == (f.default, f.type), (cls, name)
    # one default precision (the accelerator's own), from the vocabulary
    assert shared["precision"].default is DEFAULT_JOB_PRECISION is None
    job = PlannedJob(name="j", month="2027-01", params=1e9, tokens=1e9)
    s = Scenario(params=1e9, tokens=1e9)
    assert {n: getattr(job, n) for n in shared} == {n: getattr(s, n) for n in shared}
    assert job.total_tokens == 1e9 and s.epochs == job.epochs == 1.0
