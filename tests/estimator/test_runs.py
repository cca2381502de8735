"""Scaling a recorded run: anchored on its own measured speed on its own hardware only."""

from __future__ import annotations

import pytest

from costlens import estimator as est
from costlens.core.errors import EstimatorError
from tests.estimator.helpers import LAW_BASE, insert_synthetic_run
from tests.estimator.helpers import PRICES as CAT


@pytest.fixture
def slow_run(store):
    """A model fitted on SYNTHETIC runs of a law, and one run at half the law's speed."""
    from costlens.store.queries import get_run, list_runs

    for i, p in enumerate([1e5, 3e5, 1e6, 3e6]):  # SYNTHETIC runs
        insert_synthetic_run(store, i, params=p, samples=64_000,
                             flops_per_s=LAW_BASE * (p / 1e6) ** 0.3)  # fmt: skip
    insert_synthetic_run(store, 9, params=1e6, samples=64_000, flops_per_s=LAW_BASE * 0.5,
                         name="slow")  # fmt: skip
    model = est.fit_records(list_runs(store), prices=CAT)
    return model, get_run(store, "run009")


def test_scaling_a_run_uses_its_own_throughput(slow_run):
    model, rec = slow_run
    same = est.estimate_from_run(rec, model=model, prices=CAT)
    assert same.wall_hours.point * 3600 == pytest.approx(rec["duration_s"], rel=1e-3)
    four = est.estimate_from_run(rec, scale_tokens=4, model=model, prices=CAT)
    assert four.wall_hours.point == pytest.approx(4 * same.wall_hours.point, rel=1e-6)
    big = est.estimate_from_run(rec, scale_params=4, model=model, prices=CAT)
    assert big.flops == pytest.approx(4 * rec["flops"])
    assert (
        big.wall_hours.point < 4 * same.wall_hours.point
    )  # bigger models run faster per FLOP on this law
    assert big.gpu == "CPU" and big.extrapolation


def test_other_hardware_is_predicted_afresh(slow_run):
    model, rec = slow_run
    s = est.scenario_from_run(rec, prices=CAT)
    assert (s.gpu, s.gpus, s.precision, s.workload) == ("CPU", 1, "fp32", "slow")
    assert s.tokens_per_step == pytest.approx(64)
    assert est.run_anchor_for(rec, s, model=model, prices=CAT) == pytest.approx(
        est.run_anchor_offset(rec, model=model, prices=CAT)
    )
    gpu = est.scenario_from_run(rec, prices=CAT, gpu="FAKE-GPU", precision="bf16")
    assert est.run_anchor_for(rec, gpu, model=model, prices=CAT) is None
    moved = est.estimate_from_run(rec, model=model, prices=CAT, gpu="FAKE-GPU", precision="bf16")
    assert moved.flops_per_s_per_device == pytest.approx(
        est.estimate(gpu, model=model, prices=CAT).flops_per_s_per_device
    )


def test_compare_from_a_run_is_anchored_on_its_speed(slow_run):
    model, rec = slow_run
    out = est.compare_from_run(rec, model=model, prices=CAT)
    rows = {r["strategy"]: r for r in out["strategies"]}
    assert rows["scratch"]["wall_hours"] * 3600 == pytest.approx(rec["duration_s"], rel=1e-3)
    assert rows["lora"]["wall_hours"] < rows["scratch"]["wall_hours"]


def test_runs_that_cannot_anchor_are_refused(slow_run):
    _, rec = slow_run
    with pytest.raises(EstimatorError, match="positive"):
        est.scenario_from_run(rec, scale_tokens=0, prices=CAT)
    with pytest.raises(EstimatorError, match="cannot anchor"):
        est.scenario_from_run({**rec, "status": "failed"}, prices=CAT)
    with pytest.raises(EstimatorError, match="no parameter count"):
        est.scenario_from_run({**rec, "params_total": None}, prices=CAT)


def test_from_run_reports_flops_on_the_measured_basis(store):
    """A frozen-features run whose measured FLOPs differ from the 6N accounting: at scale 1 the
    estimate's flops are the recorded ones; model_flops stands beside them."""
    from costlens.store.queries import get_run, list_runs

    insert_synthetic_run(store, 0, params=1e6, samples=64_000, flops_per_s=LAW_BASE)
    rec = get_run(store, "run000")
    model = est.fit_records(list_runs(store), prices=CAT)
    one = est.estimate_from_run(rec, model=model, prices=CAT)
    assert one.flops == pytest.approx(rec["flops"])
    assert one.model_flops == pytest.approx(est.model_flops(rec))
    assert one.flops_basis.startswith("measured")
    three = est.estimate_from_run(rec, scale_tokens=3, model=model, prices=CAT)
    assert three.flops == pytest.approx(3 * rec["flops"])
