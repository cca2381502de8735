"""Plan loading and validation, the Monte Carlo forecast, what-ifs and budgets."""

from __future__ import annotations

import csv
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import ndtr

from costlens.errors import EstimatorError, PlanError
from costlens.forecast import PLAN_COLUMNS, Z90, _fit, forecast, load_plan, simulate

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "data" / "example_plan.csv"
HEADER = "name,month,project,strategy,params,tokens,gpu,gpus,provider,repeats"


# --------------------------------------------------------------------------- a fake estimator
# Deterministic, contract-shaped estimates so these tests pin the forecast's own arithmetic
# (the real estimator is exercised in the integration test at the bottom and in the CLI tests).

FAKE_LOW, FAKE_HIGH = 0.6, 1.8
FAKE_USD_PER_GPU_HOUR = {"aws": 4.0, "gcp": 3.0, "lambda": 2.0, None: 1.5}


@dataclass
class FakeEstimate:
    strategy: str
    flops: float
    wall_hours: float
    wall_hours_low: float
    wall_hours_high: float
    gpu_hours: float
    gpu_hours_low: float
    gpu_hours_high: float
    cost_usd: float
    cost_usd_low: float
    cost_usd_high: float
    energy_kwh: float
    energy_kwh_low: float
    energy_kwh_high: float
    label_cost_usd: float
    total_cost_usd: float
    total_cost_usd_low: float
    total_cost_usd_high: float
    mfu_assumed: float
    extrapolation: bool
    provider: str
    instance_type: str
    usd_per_gpu_hour: float
    spot: bool

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def fake_estimate(s) -> FakeEstimate:
    if s.params > 1e13:
        raise EstimatorError("too big for the fake")
    per_token = {"scratch": 6, "full-finetune": 6, "lora": 4, "frozen-features": 2}[s.strategy]
    gpu_hours = per_token * s.params * s.tokens / 1e15 * (0.5 if s.spot else 1.0)
    usd = FAKE_USD_PER_GPU_HOUR.get(s.provider, 1.0)
    cost = gpu_hours * usd
    labels = (s.labelled_samples or 0) * (s.usd_per_label or 0)
    return FakeEstimate(
        strategy=s.strategy, flops=per_token * s.params * s.tokens,
        wall_hours=gpu_hours / s.gpus, wall_hours_low=FAKE_LOW * gpu_hours / s.gpus,
        wall_hours_high=FAKE_HIGH * gpu_hours / s.gpus,
        gpu_hours=gpu_hours, gpu_hours_low=FAKE_LOW * gpu_hours,
        gpu_hours_high=FAKE_HIGH * gpu_hours,
        cost_usd=cost, cost_usd_low=FAKE_LOW * cost, cost_usd_high=FAKE_HIGH * cost,
        energy_kwh=0.5 * gpu_hours, energy_kwh_low=0.3 * gpu_hours,
        energy_kwh_high=0.9 * gpu_hours,
        label_cost_usd=labels, total_cost_usd=cost + labels,
        total_cost_usd_low=FAKE_LOW * cost + labels, total_cost_usd_high=FAKE_HIGH * cost + labels,
        mfu_assumed=0.4, extrapolation=False, provider=s.provider or "cheap",
        instance_type=s.instance or "fake-1x", usd_per_gpu_hour=usd, spot=s.spot,
    )  # fmt: skip


def fake_estimate_many(scenarios, *, model=None) -> list[FakeEstimate]:
    return [fake_estimate(s) for s in scenarios]


def write_plan(folder: Path, rows: list[str], header: str = HEADER, name: str = "plan.csv") -> Path:
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def row(name="j", month="2027-01", project="p", strategy="scratch", params="1B", tokens="10B",
        gpu="H100", gpus="8", provider="aws", repeats="1") -> str:  # fmt: skip
    return ",".join([name, month, project, strategy, params, tokens, gpu, gpus, provider, repeats])


def fc_of(path_or_jobs, **kw):
    kw.setdefault("estimate_fn", fake_estimate_many)
    kw.setdefault("n_sims", 4000)
    return forecast(path_or_jobs, **kw)


# --------------------------------------------------------------------------- plan loading


def test_example_plan_loads_with_canonical_accelerators() -> None:
    jobs = load_plan(EXAMPLE)
    assert len(jobs) >= 8
    assert {j.gpu for j in jobs} <= {"A100-80GB-SXM", "H100-SXM", "L4", "A10G"}
    assert {j.strategy for j in jobs} == {"scratch", "full-finetune", "lora", "frozen-features"}
    assert [j.line for j in jobs] == list(range(2, len(jobs) + 2))
    sft = next(j for j in jobs if j.name == "assistant-sft-8b")
    assert sft.params == 8e9 and sft.total_tokens == 4e9 and sft.repeats == 2


@pytest.mark.parametrize(
    ("rows", "header", "line", "column", "words"),
    [
        ([row()], HEADER + ",colour", 1, "colour", "unknown column"),
        ([row(), row(month="2027-13")], HEADER, 3, "month", "not 1-12"),
        ([row(params="-7B")], HEADER, 2, "params", "positive"),
        ([row(gpus="eight")], HEADER, 2, "gpus", "number"),
        ([row(gpus="1.5")], HEADER, 2, "gpus", "whole number"),
        ([row(tokens="nan")], HEADER, 2, "tokens", "number"),
        ([row(tokens="1e999")], HEADER, 2, "tokens", "finite"),
        ([row(gpu="H1000")], HEADER, 2, "gpu", "H100"),
        ([row(strategy="distillation")], HEADER, 2, "strategy", "lora"),
        ([row(name="")], HEADER, 2, "name", "required"),
        ([row(repeats="0")], HEADER, 2, "repeats", "at least 1"),
        ([row(provider="ovh")], HEADER, 2, "provider", "unknown provider"),
        ([row(gpu="T4", provider="lambda")], HEADER, 2, "provider", "no price"),
        ([row() + ",extra"], HEADER, 2, None, "fields"),
        ([row()], HEADER.replace(",repeats", ""), 1, "repeats", "missing"),
    ],
)
def test_bad_plan_is_refused_with_line_and_column(
    tmp_path: Path, rows, header, line, column, words
) -> None:
    path = write_plan(tmp_path, rows, header)
    with pytest.raises(PlanError) as info:
        load_plan(path)
    err = info.value
    assert err.path == str(path)
    assert err.line == line
    assert err.column == column
    assert words in str(err)
    assert str(path) in str(err)


def test_every_problem_is_listed(tmp_path: Path) -> None:
    path = write_plan(tmp_path, [row(month="2027-13"), row(), row(gpus="-2", params="x")])
    with pytest.raises(PlanError) as info:
        load_plan(path)
    problems = info.value.problems
    assert [(p[0], p[1]) for p in problems] == [(2, "month"), (4, "params"), (4, "gpus")]
    assert "line 4 column 'gpus'" in str(info.value)


def test_empty_and_missing_plans(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="no such plan"):
        load_plan(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(PlanError, match="empty"):
        load_plan(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text(HEADER + "\n")
    with pytest.raises(PlanError, match="no jobs"):
        load_plan(tmp_path / "header.csv")


def test_comments_blank_lines_suffixes_and_optional_columns(tmp_path: Path) -> None:
    header = HEADER + ",epochs,spot,trainable_fraction,labelled_samples,usd_per_label,precision"
    path = write_plan(
        tmp_path,
        ["# a comment", "", row(strategy="LoRA", params="8b", tokens='"1,500M"')
         + ",2,yes,0.01,1k,0.1,fp16"],
        header,
    )  # fmt: skip
    (job,) = load_plan(path)
    assert job.line == 4
    assert (job.strategy, job.params, job.tokens, job.total_tokens) == ("lora", 8e9, 1.5e9, 3e9)
    assert job.spot is True and job.trainable_fraction == 0.01 and job.precision == "fp16"
    assert job.labelled_samples == 1000 and job.usd_per_label == 0.1


def test_labels_need_both_columns(tmp_path: Path) -> None:
    path = write_plan(tmp_path, [row() + ",500"], HEADER + ",labelled_samples")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert (info.value.line, info.value.column) == (2, "usd_per_label")


def test_toml_and_yaml_plans(tmp_path: Path) -> None:
    toml = tmp_path / "plan.toml"
    toml.write_text(
        '[[job]]\nname = "a"\nmonth = "2027-01"\nstrategy = "scratch"\nparams = 1e9\n'
        'tokens = "10B"\ngpu = "H100"\ngpus = 8\nprovider = "aws"\nrepeats = 2\n\n'
        '[[job]]\nname = "b"\nmonth = "2027-14"\nstrategy = "lora"\nparams = 8e9\n'
        'tokens = 1e8\ngpu = "A100-80GB"\ngpus = 8\nprovider = "gcp"\nrepeats = 1\n'
    )
    with pytest.raises(PlanError) as info:
        load_plan(toml)
    assert (info.value.line, info.value.column) == (12, "month")
    toml.write_text(toml.read_text().replace("2027-14", "2027-02"))
    assert [j.name for j in load_plan(toml)] == ["a", "b"]

    yml = tmp_path / "plan.yaml"
    yml.write_text(
        "jobs:\n"
        "  - {name: a, month: 2027-01, strategy: scratch, params: 1B, tokens: 10B, gpu: H100,"
        " gpus: 8, provider: aws, repeats: 1}\n"
        "  - {name: b, month: 2027-02, strategy: lora, params: 8B, tokens: 1e8, gpu: A100-80GB,"
        " gpus: 8, provider: gcp, repeats: 1, colour: red}\n"
    )
    with pytest.raises(PlanError) as info:
        load_plan(yml)
    assert (info.value.line, info.value.column) == (3, "colour")


# hypothesis: a valid plan with one generated bad cell is refused at that cell
BAD_CELLS = {
    "month": st.sampled_from(["2027-13", "2027-00", "27-01", "January", "2027/01", "2027-1-1"]),
    "params": st.sampled_from(["-1", "0", "abc", "1Q", "inf", "-7B"]),
    "tokens": st.sampled_from(["-5", "0", "ten", "nan", "1e999"]),
    "gpus": st.sampled_from(["0", "-1", "1.5", "two", ""]),
    "repeats": st.sampled_from(["0", "-3", "2.5", "x", ""]),
    "gpu": st.sampled_from(["H1000", "GTX-9999", "Voodoo2", ""]),
    "strategy": st.sampled_from(["distil", "pretrain", "rlhf", ""]),
    "provider": st.sampled_from(["ovh", "digitalocean", ""]),
    "name": st.just(""),
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    column=st.sampled_from(sorted(BAD_CELLS)),
    data=st.data(),
    n_rows=st.integers(1, 6),
    bad_row=st.integers(0, 5),
)
def test_generated_bad_cell_names_its_line_and_column(column, data, n_rows, bad_row) -> None:
    bad_row = bad_row % n_rows
    value = data.draw(BAD_CELLS[column])
    rows = [row(name=f"job{i}") for i in range(n_rows)]
    rows[bad_row] = row(**{"name": f"job{bad_row}", column: value})
    folder = Path(tempfile.mkdtemp())
    try:
        path = write_plan(folder, rows)
        with pytest.raises(PlanError) as info:
            load_plan(path)
        assert (info.value.line, info.value.column) == (bad_row + 2, column)
    finally:
        shutil.rmtree(folder)


# --------------------------------------------------------------------------- simulation


def _same_jobs_plan(tmp_path: Path, n: int, repeats: int = 1) -> Path:
    return write_plan(tmp_path, [row(name=f"j{i}", repeats=str(repeats)) for i in range(n)])


def test_interval_of_a_sum_is_narrower_than_the_sum_of_bounds(tmp_path: Path) -> None:
    fc = fc_of(_same_jobs_plan(tmp_path, 20))
    jobs = fc.jobs
    assert fc.total["cost_usd_low"] > jobs["cost_usd_low"].sum()
    assert fc.total["cost_usd_high"] < jobs["cost_usd_high"].sum()
    assert fc.total["cost_usd_low"] < fc.total["cost_usd"] < fc.total["cost_usd_high"]
    # the expected total is exact: the sum of the jobs' lognormal means
    assert fc.total["cost_usd"] == pytest.approx(jobs["cost_usd"].sum(), rel=1e-12)
    for q in ("gpu_hours", "energy_kwh"):
        assert fc.total[f"{q}_low"] > jobs[f"{q}_low"].sum()
        assert fc.total[f"{q}_high"] < jobs[f"{q}_high"].sum()


def test_single_run_interval_is_the_estimators_and_point_is_the_median(tmp_path: Path) -> None:
    fc = fc_of(_same_jobs_plan(tmp_path, 1))
    est = fake_estimate_many([_scenario_of(load_plan(tmp_path / "plan.csv")[0])])[0]
    job = fc.jobs.iloc[0]
    assert job["cost_usd_low"] == pytest.approx(est.cost_usd_low, rel=1e-12)
    assert job["cost_usd_high"] == pytest.approx(est.cost_usd_high, rel=1e-12)
    # two-piece lognormal: P10, P50, P90 = the estimator's low, point, high
    s1, s2 = np.log(1 / FAKE_LOW) / Z90, np.log(FAKE_HIGH) / Z90
    mean = est.cost_usd * (np.exp(s1**2 / 2) * ndtr(-s1) + np.exp(s2**2 / 2) * ndtr(s2))
    assert job["cost_usd"] == pytest.approx(mean, rel=1e-12)
    assert job["cost_usd"] > est.cost_usd  # right-skewed: the mean lies above the median
    # the simulated total of one job reproduces its interval within Monte Carlo error
    assert fc.total["cost_usd_low"] == pytest.approx(est.cost_usd_low, rel=0.03)
    assert fc.total["cost_usd_high"] == pytest.approx(est.cost_usd_high, rel=0.03)


def test_simulated_draws_match_the_fitted_distribution() -> None:
    ests = fake_estimate_many([_scenario_of(j) for j in load_plan(EXAMPLE)[:3]])
    dist = _fit(ests)
    n = len(ests)
    sim = simulate(dist, np.ones(n, dtype=np.int64), np.arange(n), n, n_sims=200_000, seed=1)
    for i, e in enumerate(ests):
        draws = sim.groups["gpu_hours"][i]
        p10, p50, p90 = np.percentile(draws, [10, 50, 90])
        assert p10 == pytest.approx(e.gpu_hours_low, rel=0.01)
        assert p50 == pytest.approx(e.gpu_hours, rel=0.01)
        assert p90 == pytest.approx(e.gpu_hours_high, rel=0.01)
        assert draws.mean() == pytest.approx(dist.mean("gpu_hours")[i], rel=0.01)
        # cost and GPU-hours share the draw: perfectly rank-correlated within a run
        cost = sim.groups["cost_usd"][i]
        assert np.array_equal(np.argsort(cost[:1000]), np.argsort(draws[:1000]))


def _scenario_of(job):
    from costlens.forecast import job_scenario

    return job_scenario(job)


def test_repeats_are_independent_draws(tmp_path: Path) -> None:
    one = fc_of(_same_jobs_plan(tmp_path, 1, repeats=10)).jobs.iloc[0]
    ten_jobs = fc_of(write_plan(tmp_path, [row(name=f"j{i}") for i in range(10)], name="t.csv"))
    assert one["cost_usd"] == pytest.approx(ten_jobs.total["cost_usd"], rel=1e-12)
    # a job's repeats get a simulated (narrower-than-10x) interval
    single = ten_jobs.jobs.iloc[0]
    assert one["cost_usd_high"] < 10 * single["cost_usd_high"]
    assert one["cost_usd_low"] > 10 * single["cost_usd_low"]
    assert one["cost_usd_low"] == pytest.approx(ten_jobs.total["cost_usd_low"], rel=0.03)


def test_full_correlation_adds_bounds(tmp_path: Path) -> None:
    fc = fc_of(_same_jobs_plan(tmp_path, 10), correlation=1.0)
    assert fc.total["cost_usd_high"] == pytest.approx(fc.jobs["cost_usd_high"].sum(), rel=0.03)
    assert fc.assumptions["simulation"]["correlation"] == 1.0


def test_deterministic_with_a_seed(tmp_path: Path) -> None:
    path = write_plan(tmp_path, [row(name=f"j{i}", month=f"2027-0{i % 3 + 1}") for i in range(9)])
    a, b = fc_of(path, seed=7), fc_of(path, seed=7)
    c = fc_of(path, seed=8)
    assert a.months.equals(b.months) and a.jobs.equals(b.jobs)
    assert a.what_ifs == b.what_ifs
    assert a.total["cost_usd_high"] != c.total["cost_usd_high"]
    assert a.total["cost_usd"] == c.total["cost_usd"]  # expected figures are exact


def test_months_projects_and_pairs_add_up(tmp_path: Path) -> None:
    fc = fc_of(EXAMPLE)
    assert list(fc.months["month"]) == ["2027-01", "2027-02", "2027-03"]
    assert set(fc.projects["project"]) == {"assistant", "search", "vision"}
    for df in (fc.months, fc.projects, fc.month_projects):
        assert df["cost_usd"].sum() == pytest.approx(fc.total["cost_usd"], rel=1e-9)
        assert df["runs"].sum() == fc.total["runs"] == fc.jobs["repeats"].sum()
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


def test_what_ifs(tmp_path: Path) -> None:
    fc = fc_of(EXAMPLE)
    jobs = load_plan(EXAMPLE)
    tr = fc.what_ifs["transfer"]
    assert tr["jobs_changed"] == sum(j.strategy == "scratch" for j in jobs)
    # fake: lora costs 4/6 of scratch per token -> a positive saving, with a paired interval
    assert tr["savings_usd"] > 0
    assert tr["savings_usd_low"] <= tr["savings_usd"] <= tr["savings_usd_high"]
    assert tr["total_cost_usd"] == pytest.approx(fc.total["cost_usd"] - tr["savings_usd"])
    assert "lora" in tr["description"] and "scratch" in tr["description"]
    cheap = fc.what_ifs["cheapest_provider"]
    assert cheap["jobs_changed"] > 0
    assert [m["month"] for m in cheap["months"]] == list(fc.months["month"])
    full = fc_of(EXAMPLE, transfer_strategy="full-finetune")
    assert full.what_ifs["transfer"]["savings_usd"] == pytest.approx(0.0, abs=1e-6)
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
    assert fc.budget["over_months"] == [m for m in sorted(costs) if costs[m] > budget]
    over = {p["month"] for p in fc.over_budget}
    assert "2027-02" in over and "2027-01" not in over
    p = {r["month"]: r["p_over_budget"] for r in fc.budget["periods"]}
    assert p["2027-02"] == 1.0 and p["2027-01"] == 0.0
    assert list(fc.months["p_over_budget"]) == [p[m] for m in fc.months["month"]]


def test_budget_total_gives_a_probability(tmp_path: Path) -> None:
    path = _same_jobs_plan(tmp_path, 5)
    base = fc_of(path)
    fc = fc_of(path, budget_usd=base.total["cost_usd"], budget_period="total")
    (period,) = fc.budget["periods"]
    assert period["month"] == "total"
    assert 0.2 < period["p_over_budget"] < 0.6  # a right-skewed sum: mean above the median
    generous = fc_of(path, budget_usd=base.total["cost_usd_high"] * 2, budget_period="total")
    assert generous.over_budget == [] and generous.budget["periods"][0]["p_over_budget"] < 0.01


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    path = _same_jobs_plan(tmp_path, 1)
    for kw in ({"budget_usd": -5}, {"budget_period": "week"}, {"n_sims": 10},
               {"correlation": 2.0}, {"transfer_strategy": "scratch"}):  # fmt: skip
        with pytest.raises(Exception) as info:
            fc_of(path, **kw)
        assert type(info.value).__module__ == "costlens.errors"


def test_an_estimator_refusal_names_the_plan_line(tmp_path: Path) -> None:
    path = write_plan(tmp_path, [row(name="ok"), row(name="huge", params="1e14")])
    with pytest.raises(PlanError) as info:
        fc_of(path)
    assert info.value.line == 3 and "huge" in str(info.value)


def test_plan_columns_are_the_documented_ones() -> None:
    with EXAMPLE.open() as fh:
        header = next(csv.reader(fh))
    assert set(header) <= set(PLAN_COLUMNS)
    import costlens.forecast as mod

    for col in PLAN_COLUMNS:
        assert f"``{col}``" in mod.__doc__


def test_what_ifs_do_not_change_the_plans_own_draws(tmp_path: Path) -> None:
    with_, without = fc_of(EXAMPLE), fc_of(EXAMPLE, what_ifs=False)
    assert with_.months.equals(without.months) and with_.jobs.equals(without.jobs)


# --------------------------------------------------------------------------- real estimator


def test_with_the_real_estimator_single_runs_keep_its_interval() -> None:
    from costlens.estimator import estimate_many, load_model

    fc = forecast(EXAMPLE, n_sims=2000)
    jobs = load_plan(EXAMPLE)
    ests = estimate_many([_scenario_of(j) for j in jobs], model=load_model())
    for row, job, est in zip(fc.jobs.itertuples(), jobs, ests, strict=True):
        assert row.provider == est.provider and row.instance_type == est.instance_type
        if job.repeats == 1:
            assert row.cost_usd_low == pytest.approx(est.cost_usd_low + est.label_cost_usd)
            assert row.cost_usd_high == pytest.approx(est.cost_usd_high + est.label_cost_usd)
            assert row.gpu_hours_low == pytest.approx(est.gpu_hours_low)
        assert row.cost_usd_low <= row.cost_usd <= row.cost_usd_high
    assert fc.assumptions["estimator"]["model"] == "CostModel"
    assert {p["as_of"] for p in fc.assumptions["prices"]} and fc.assumptions["mfu_priors"]
