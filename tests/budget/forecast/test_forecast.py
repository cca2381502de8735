"""The Monte Carlo forecast, what-ifs and budgets (fake prices through real ``Estimate``s)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr

from costlens.budget.forecast import (
    Z90,
    Budget,
    BudgetPeriod,
    ForecastOptions,
    Totals,
    WhatIf,
    fit,
    forecast,
    job_scenario,
    load_plan,
    simulate,
)
from costlens.core.errors import EstimatorError, PlanError
from costlens.estimator import Estimate
from costlens.estimator.types import Interval
from tests.budget.plan.plans import EXAMPLE, row, write_plan

# --------------------------------------------------------------------------- a fake estimator
# Deterministic estimates (real Estimate objects) so these tests pin the forecast's own
# arithmetic (the real estimator is exercised at the bottom and in the CLI tests).

FAKE_LOW, FAKE_HIGH = 0.6, 1.8
FAKE_USD_PER_GPU_HOUR = {"aws": 4.0, "gcp": 3.0, "lambda": 2.0, None: 1.5}


def fake_estimate(s) -> Estimate:
    if s.params > 1e13:
        raise EstimatorError("too big for the fake")
    per_token = {"scratch": 6, "full-finetune": 6, "lora": 4, "frozen-features": 2}[s.strategy]
    gpu_hours = per_token * s.params * s.tokens / 1e15 * (0.5 if s.spot else 1.0)
    usd = FAKE_USD_PER_GPU_HOUR.get(s.provider, 1.0)
    cost = gpu_hours * usd
    labels = (s.labelled_samples or 0) * (s.usd_per_label or 0)
    unit = Interval(1.0, FAKE_LOW, FAKE_HIGH)
    return Estimate(
        strategy=s.strategy, flops=per_token * s.params * s.tokens,
        wall_hours=unit.scaled(gpu_hours / s.gpus), gpu_hours=unit.scaled(gpu_hours),
        cost_usd=unit.scaled(cost), energy_kwh=Interval(0.5, 0.3, 0.9).scaled(gpu_hours),
        label_cost_usd=labels, total_cost_usd=unit.scaled(cost).shifted(labels),
        mfu_assumed=0.4, extrapolation=False, provider=s.provider or "cheap",
        instance_type=s.instance or "fake-1x", usd_per_gpu_hour=usd, spot=s.spot,
    )  # fmt: skip


def fake_estimate_many(scenarios, *, model=None, prices=None) -> list[Estimate]:
    return [fake_estimate(s) for s in scenarios]


def fc_of(path_or_jobs, prices=None, **kw):
    """The forecast with the fake estimator; ``kw`` are ForecastOptions fields."""
    kw.setdefault("n_sims", 4000)
    return forecast(
        path_or_jobs, ForecastOptions(**kw), prices=prices, estimate_fn=fake_estimate_many
    )


# --------------------------------------------------------------------------- simulation


def _same_jobs_plan(tmp_path: Path, n: int, repeats: int = 1) -> Path:
    return write_plan(tmp_path, [row(name=f"j{i}", repeats=str(repeats)) for i in range(n)])


def test_interval_of_a_sum_is_narrower_than_the_sum_of_bounds(tmp_path: Path) -> None:
    fc = fc_of(_same_jobs_plan(tmp_path, 20))
    jobs = fc.jobs
    assert fc.total.cost_usd_low > jobs["cost_usd_low"].sum()
    assert fc.total.cost_usd_high < jobs["cost_usd_high"].sum()
    assert fc.total.cost_usd_low < fc.total.cost_usd < fc.total.cost_usd_high
    # the expected total is exact: the sum of the jobs' lognormal means
    assert fc.total.cost_usd == pytest.approx(jobs["cost_usd"].sum(), rel=1e-12)
    for q in ("gpu_hours", "energy_kwh"):
        assert getattr(fc.total, f"{q}_low") > jobs[f"{q}_low"].sum()
        assert getattr(fc.total, f"{q}_high") < jobs[f"{q}_high"].sum()


def test_single_run_interval_is_the_estimators_and_point_is_the_median(
    tmp_path: Path, prices
) -> None:
    fc = fc_of(_same_jobs_plan(tmp_path, 1))
    est = fake_estimate_many([_scenario_of(load_plan(tmp_path / "plan.csv", prices=prices)[0])])[0]
    job = fc.jobs.iloc[0]
    assert job["cost_usd_low"] == pytest.approx(est.cost_usd.low, rel=1e-12)
    assert job["cost_usd_high"] == pytest.approx(est.cost_usd.high, rel=1e-12)
    # two-piece lognormal: P10, P50, P90 = the estimator's low, point, high
    s1, s2 = np.log(1 / FAKE_LOW) / Z90, np.log(FAKE_HIGH) / Z90
    mean = est.cost_usd.point * (np.exp(s1**2 / 2) * ndtr(-s1) + np.exp(s2**2 / 2) * ndtr(s2))
    assert job["cost_usd"] == pytest.approx(mean, rel=1e-12)
    assert job["cost_usd"] > est.cost_usd.point  # right-skewed: the mean lies above the median
    # the simulated total of one job reproduces its interval within Monte Carlo error
    assert fc.total.cost_usd_low == pytest.approx(est.cost_usd.low, rel=0.03)
    assert fc.total.cost_usd_high == pytest.approx(est.cost_usd.high, rel=0.03)


def test_simulated_draws_match_the_fitted_distribution(prices) -> None:
    ests = fake_estimate_many([_scenario_of(j) for j in load_plan(EXAMPLE, prices=prices)[:3]])
    dist = fit(ests)
    n = len(ests)
    sim = simulate(dist, np.ones(n, dtype=np.int64), np.arange(n), n, n_sims=200_000, seed=1)
    for i, e in enumerate(ests):
        draws = sim.groups["gpu_hours"][i]
        p10, p50, p90 = np.percentile(draws, [10, 50, 90])
        assert p10 == pytest.approx(e.gpu_hours.low, rel=0.01)
        assert p50 == pytest.approx(e.gpu_hours.point, rel=0.01)
        assert p90 == pytest.approx(e.gpu_hours.high, rel=0.01)
        assert draws.mean() == pytest.approx(dist.mean("gpu_hours")[i], rel=0.01)
        # cost and GPU-hours share the draw: perfectly rank-correlated within a run
        cost = sim.groups["cost_usd"][i]
        assert np.array_equal(np.argsort(cost[:1000]), np.argsort(draws[:1000]))


def _scenario_of(job):
    return job_scenario(job)


def test_repeats_are_independent_draws(tmp_path: Path) -> None:
    one = fc_of(_same_jobs_plan(tmp_path, 1, repeats=10)).jobs.iloc[0]
    ten_jobs = fc_of(write_plan(tmp_path, [row(name=f"j{i}") for i in range(10)], name="t.csv"))
    assert one["cost_usd"] == pytest.approx(ten_jobs.total.cost_usd, rel=1e-12)
    # a job's repeats get a simulated (narrower-than-10x) interval
    single = ten_jobs.jobs.iloc[0]
    assert one["cost_usd_high"] < 10 * single["cost_usd_high"]
    assert one["cost_usd_low"] > 10 * single["cost_usd_low"]
    assert one["cost_usd_low"] == pytest.approx(ten_jobs.total.cost_usd_low, rel=0.03)


def test_full_correlation_adds_bounds(tmp_path: Path) -> None:
    fc = fc_of(_same_jobs_plan(tmp_path, 10), correlation=1.0)
    assert fc.total.cost_usd_high == pytest.approx(fc.jobs["cost_usd_high"].sum(), rel=0.03)
    assert fc.assumptions["simulation"]["correlation"] == 1.0


def test_deterministic_with_a_seed(tmp_path: Path) -> None:
    path = write_plan(tmp_path, [row(name=f"j{i}", month=f"2027-0{i % 3 + 1}") for i in range(9)])
    a, b = fc_of(path, seed=7), fc_of(path, seed=7)
    c = fc_of(path, seed=8)
    assert a.months.equals(b.months) and a.jobs.equals(b.jobs)
    assert a.what_ifs == b.what_ifs
    assert a.total.cost_usd_high != c.total.cost_usd_high
    assert a.total.cost_usd == c.total.cost_usd  # expected figures are exact


def test_months_projects_and_pairs_add_up(tmp_path: Path) -> None:
    fc = fc_of(EXAMPLE)
    assert list(fc.months["month"]) == ["2027-01", "2027-02", "2027-03"]
    assert set(fc.projects["project"]) == {"assistant", "search", "vision"}
    for df in (fc.months, fc.projects, fc.month_projects):
        assert df["cost_usd"].sum() == pytest.approx(fc.total.cost_usd, rel=1e-9)
        assert df["runs"].sum() == fc.total.runs == fc.jobs["repeats"].sum()
        assert (df["cost_usd_low"] <= df["cost_usd"]).all()
        assert (df["cost_usd"] <= df["cost_usd_high"]).all()
    jan = fc.jobs[fc.jobs["month"] == "2027-01"]
    assert fc.months.iloc[0]["cost_usd"] == pytest.approx(jan["cost_usd"].sum(), rel=1e-9)
    # label cost is included, fixed, and bought once per job whatever its repeats
    vit = fc.jobs[fc.jobs["name"] == "defect-classifier-vit-l"].iloc[0]
    assert vit["repeats"] == 3
    assert vit["label_cost_usd"] == pytest.approx(50000 * 0.08)
    assert vit["cost_usd"] == pytest.approx(
        3 * vit["compute_cost_usd_per_run"] + vit["label_cost_usd"], rel=1e-12
    )
    assert vit["cost_usd_low"] > vit["label_cost_usd"]


# --------------------------------------------------------------------------- what-ifs and budget


def test_what_ifs(tmp_path: Path, prices) -> None:
    fc = fc_of(EXAMPLE)
    jobs = load_plan(EXAMPLE, prices=prices)
    tr = fc.what_ifs["transfer"]
    assert tr.jobs_changed == sum(j.strategy == "scratch" for j in jobs)
    # fake: lora costs 4/6 of scratch per token -> a positive saving, with a paired interval
    assert tr.savings_usd > 0
    assert tr.savings_usd_low <= tr.savings_usd <= tr.savings_usd_high
    assert tr.total_cost_usd == pytest.approx(fc.total.cost_usd - tr.savings_usd)
    assert "lora" in tr.description and "scratch" in tr.description
    cheap = fc.what_ifs["cheapest_provider"]
    assert cheap.jobs_changed > 0
    assert [m.month for m in cheap.months] == list(fc.months["month"])
    full = fc_of(EXAMPLE, transfer_strategy="full-finetune")
    assert full.what_ifs["transfer"].savings_usd == pytest.approx(0.0, abs=1e-6)
    none = fc_of(EXAMPLE, what_ifs=False)
    assert none.what_ifs == {}


def test_budget_per_month_names_the_months_that_go_over(tmp_path: Path) -> None:
    path = write_plan(
        tmp_path,
        [row(name="small", month="2027-01", params="0.1B"),
         row(name="big", month="2027-02", params="10B"),
         row(name="mid", month="2027-03", params="1B")],
    )  # fmt: skip
    base = fc_of(path)
    costs = dict(zip(base.months["month"], base.months["cost_usd"], strict=True))
    budget = (costs["2027-01"] + costs["2027-03"]) / 2 * 1.01
    fc = fc_of(path, budget_usd=budget)
    assert list(fc.budget.over_months) == [m for m in sorted(costs) if costs[m] > budget]
    over = {p.month for p in fc.over_budget}
    assert "2027-02" in over and "2027-01" not in over
    p = {r.month: r.p_over_budget for r in fc.budget.periods}
    assert p["2027-02"] == 1.0 and p["2027-01"] == 0.0
    assert list(fc.months["p_over_budget"]) == [p[m] for m in fc.months["month"]]


def test_budget_total_gives_a_probability(tmp_path: Path) -> None:
    path = _same_jobs_plan(tmp_path, 5)
    base = fc_of(path)
    fc = fc_of(path, budget_usd=base.total.cost_usd, budget_period="total")
    (period,) = fc.budget.periods
    assert period.month == "total"
    assert 0.2 < period.p_over_budget < 0.6  # a right-skewed sum: mean above the median
    generous = fc_of(path, budget_usd=base.total.cost_usd_high * 2, budget_period="total")
    assert generous.over_budget == [] and generous.budget.periods[0].p_over_budget < 0.01


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    path = _same_jobs_plan(tmp_path, 1)
    for kw in ({"budget_usd": -5}, {"budget_period": "week"}, {"n_sims": 10},
               {"correlation": 2.0}, {"transfer_strategy": "scratch"}):  # fmt: skip
        with pytest.raises(Exception) as info:
            fc_of(path, **kw)
        assert type(info.value).__module__ == "costlens.core.errors"


def test_an_estimator_refusal_names_the_plan_line(tmp_path: Path) -> None:
    path = write_plan(tmp_path, [row(name="ok"), row(name="huge", params="1e14")])
    with pytest.raises(PlanError) as info:
        fc_of(path)
    assert info.value.line == 3 and "huge" in str(info.value)


def test_what_ifs_do_not_change_the_plans_own_draws(tmp_path: Path) -> None:
    with_, without = fc_of(EXAMPLE), fc_of(EXAMPLE, what_ifs=False)
    assert with_.months.equals(without.months) and with_.jobs.equals(without.jobs)


def test_the_result_is_typed_and_its_json_view_keeps_the_contract(tmp_path: Path, prices) -> None:
    path = _same_jobs_plan(tmp_path, 3)
    fc = fc_of(path, budget_usd=1.0)
    assert isinstance(fc.total, Totals) and isinstance(fc.budget, Budget)
    assert all(isinstance(w, WhatIf) for w in fc.what_ifs.values())
    assert all(isinstance(p, BudgetPeriod) for p in fc.budget.periods)
    assert fc.budget.period_of("2027-01") is fc.budget.periods[0]
    assert fc.budget.period_of("2031-05") is None
    data = fc.as_dict()
    assert data["total_cost_usd"] == fc.total.cost_usd and data["jobs_count"] == 3
    assert data["budget"]["periods"][0]["over"] is True and data["budget"]["over_months"]
    tr = data["what_ifs"]["transfer"]
    assert list(tr) == [f.name for f in fields(WhatIf)]
    assert tr["months"][0]["month"] == "2027-01" and tr["jobs_changed"] == 3
    assert data["assumptions"]["plan"] == str(path)
    jobs = fc_of(load_plan(path, prices=prices), prices=prices).assumptions
    assert jobs["plan"] is None and jobs["plan_sha256"] is None


def test_provenance_names_the_quote_the_estimator_priced(prices) -> None:
    fc = forecast(EXAMPLE, ForecastOptions(n_sims=200), prices=prices)
    rows = fc.assumptions["prices"]
    used = {(j.provider, j.instance_type, j.spot) for j in fc.jobs.itertuples()}
    assert {(p["provider"], p["instance_type"], p["spot"]) for p in rows} == used
    for p in rows:
        job = fc.jobs[fc.jobs["instance_type"] == p["instance_type"]].iloc[0]
        q = prices.cheapest(
            p["gpu"], int(job["gpus"]), provider=p["provider"], spot=p["spot"],
            instance_type=p["instance_type"],
        )  # fmt: skip
        assert (p["region"], p["gpu_count"], p["as_of"]) == (q.region, q.gpu_count, q.as_of)


def test_forecast_loads_neither_export_nor_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, costlens.budget.forecast, costlens.budget.plan; "
        "bad = {'costlens.budget.files', 'torch'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- real estimator


def test_with_the_real_estimator_single_runs_keep_its_interval(prices) -> None:
    from costlens.estimator import estimate_many, load_model

    fc = forecast(EXAMPLE, ForecastOptions(n_sims=2000), prices=prices)
    jobs = load_plan(EXAMPLE, prices=prices)
    ests = estimate_many([_scenario_of(j) for j in jobs], model=load_model(), prices=prices)
    for r, job, est in zip(fc.jobs.itertuples(), jobs, ests, strict=True):
        assert r.provider == est.provider and r.instance_type == est.instance_type
        if job.repeats == 1:
            assert r.cost_usd_low == pytest.approx(est.cost_usd.low + est.label_cost_usd)
            assert r.cost_usd_high == pytest.approx(est.cost_usd.high + est.label_cost_usd)
            assert r.gpu_hours_low == pytest.approx(est.gpu_hours.low)
        assert r.cost_usd_low <= r.cost_usd <= r.cost_usd_high
    assert fc.assumptions["estimator"]["model"] == "CostModel"
    assert {p["as_of"] for p in fc.assumptions["prices"]} and fc.assumptions["mfu_priors"]
