"""Estimates: FLOPs by hand, time and dollars from the model and the prices, refusals, speed."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import numpy as np
import pytest

from costlens import estimator as est
from costlens.core.errors import EstimatorError, UnknownAcceleratorError
from tests.estimator.helpers import LAW_BASE
from tests.estimator.helpers import PRICES as CAT

# ---------------------------------------------------------------- physics by hand


def test_flops_formulas_by_hand():
    n, d = 1e9, 1e6
    assert est.strategy_flops(n, d, "scratch") == pytest.approx(6e15)
    assert est.strategy_flops(n, d, "full-finetune") == pytest.approx(6e15)
    # LoRA: forward 2N + activation grads 2N + weight grads 2 fN
    assert est.strategy_flops(n, d, "lora", trainable_fraction=0.01) == pytest.approx(
        (4 + 0.02) * 1e15
    )
    # frozen features: forward through the frozen 90% + full training of the 10% head
    assert est.strategy_flops(n, d, "frozen-features", trainable_fraction=0.1) == pytest.approx(
        (2 * 0.9 + 6 * 0.1) * 1e15
    )
    # cached features: frozen forward once per unique sample (4 epochs -> a quarter)
    assert est.strategy_flops(
        n, d, "frozen-features", trainable_fraction=0.1, epochs=4
    ) == pytest.approx((2 * 0.9 / 4 + 6 * 0.1) * 1e15)
    # PaLM appendix B: 6N + 12 L d T per token when the shape is known
    got = est.strategy_flops(n, d, "scratch", n_layers=24, d_model=2048, seq_len=2048)
    assert got == pytest.approx((6e9 + 12 * 24 * 2048 * 2048) * 1e6)


def test_flops_vectorised_matches_scalar():
    strat = np.array(["scratch", "lora", "frozen-features"], dtype=object)
    got = est.strategy_flops([1e6, 1e6, 1e6], [10, 10, 10], strat, trainable_fraction=0.5)
    assert got.tolist() == pytest.approx([6e7, 5e7, 4e7])


def test_lora_without_a_share_takes_the_priors_default():
    m = est.prior_model()
    s = est.Scenario(params=1e9, tokens=1e6, strategy="lora", gpu="FAKE-GPU")
    f = est.default_trainable_fraction("lora", m.priors_)
    assert est.estimate(s, model=m, prices=CAT).flops == pytest.approx((4 + 2 * f) * 1e15)


# ---------------------------------------------------------------- estimates and pricing


def test_estimate_arithmetic_with_fake_prices():
    m = est.prior_model()
    s = est.Scenario(params=1e9, tokens=1e10, gpu="FAKE-GPU", gpus=8, precision="bf16")
    e = est.estimate(s, model=m, prices=CAT)
    mfu = e.mfu_assumed  # the cold start's, learned from published runs
    assert 0.05 < mfu < 0.8
    assert e.wall_hours.point == pytest.approx(6e19 / (mfu * 1e14 * 8) / 3600)
    assert e.gpu_hours.point == pytest.approx(8 * e.wall_hours.point)
    assert e.cost_usd.point == pytest.approx(2.0 * e.gpu_hours.point)
    assert e.energy_kwh.point == pytest.approx(0.3 * 8 * e.wall_hours.point)  # TDP upper bound
    assert e.energy_basis == "tdp_upper_bound" and e.efficiency_basis == "mfu"
    assert e.gpu_hours.low < e.gpu_hours.point < e.gpu_hours.high
    assert e.cost_usd.low < e.cost_usd.point < e.cost_usd.high
    assert (e.provider, e.instance_type, e.gpu, e.gpus) == ("fakecloud", "fake.8x", "FAKE-GPU", 8)
    spot = est.estimate(replace(s, spot=True), model=m, prices=CAT)
    assert spot.cost_usd.point == pytest.approx(e.cost_usd.point / 2) and spot.spot is True


def test_partial_instance_pays_for_the_whole_instance():
    m = est.prior_model()
    s = est.Scenario(params=1e9, tokens=1e10, gpu="FAKE-GPU", precision="bf16")
    by_gpus = {g: est.estimate(replace(s, gpus=g), model=m, prices=CAT) for g in (3, 8, 9)}
    assert by_gpus[8].usd_per_gpu_hour == pytest.approx(2.0)
    assert by_gpus[3].usd_per_gpu_hour == pytest.approx(16.0 / 3)  # one whole 8-GPU instance
    assert by_gpus[9].usd_per_gpu_hour == pytest.approx(2 * 16.0 / 9)  # two of them
    for e in by_gpus.values():
        assert e.cost_usd.point == pytest.approx(e.gpu_hours.point * e.usd_per_gpu_hour)


def test_labels_enter_the_total():
    m = est.prior_model()
    s = est.Scenario(
        params=1e8, tokens=1e9, gpu="FAKE-GPU", labelled_samples=1000, usd_per_label=0.25
    )
    e = est.estimate(s, model=m, prices=CAT)
    assert e.label_cost_usd == 250.0
    assert e.total_cost_usd.point == pytest.approx(e.cost_usd.point + 250.0)
    assert e.total_cost_usd.high == pytest.approx(e.cost_usd.high + 250.0)


def test_cpu_without_price_has_no_dollars_but_has_hours(fitted):
    s = est.Scenario(params=1e6, tokens=1e8, gpu="CPU", precision="fp32")
    e = est.estimate(s, model=fitted, prices=CAT)
    assert e.wall_hours.point == pytest.approx(6e14 / LAW_BASE / 3600, rel=0.1)
    assert math.isnan(e.cost_usd.point) and e.efficiency_basis == "flops_per_s"
    d = e.as_dict()
    assert d["cost_usd"] is None and d["wall_hours"] > 0 and not e.extrapolation
    assert d["energy_kwh"] is None and d["energy_basis"] == "unknown"  # no TDP, no measurement


def test_as_dict_is_plain_python():
    m = est.prior_model()
    d = est.estimate(est.Scenario(params=1e9, tokens=1e9, gpu="FAKE-GPU"), model=m, prices=CAT)
    out = d.as_dict()
    assert {type(v) for v in out.values()} <= {float, int, bool, str}
    assert type(out["gpus"]) is int and type(out["extrapolation"]) is bool


def test_estimate_many_is_vectorised_and_fast():
    m = est.prior_model()
    scen = [
        est.Scenario(params=1e8 * (1 + i % 7), tokens=1e10, gpu="FAKE-GPU", gpus=1 + i % 4)
        for i in range(10_000)
    ]
    t0 = time.perf_counter()
    out = est.estimate_many(scen, model=m, prices=CAT)
    elapsed = time.perf_counter() - t0
    assert len(out) == 10_000 and elapsed < 5.0
    assert out[7].wall_hours.point == pytest.approx(
        est.estimate(scen[7], model=m, prices=CAT).wall_hours.point
    )
    assert est.estimate_many([], model=m, prices=CAT) == []


def test_the_real_price_table_is_the_default():
    from costlens.price.tables import PriceTable

    m = est.prior_model()
    s = est.Scenario(params=1e9, tokens=1e10, gpu="H100", gpus=8)
    assert est.estimate(s, model=m) == est.estimate(s, model=m, prices=PriceTable.load())


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"params": 0}, "params"),
        ({"params": -5}, "params"),
        ({"tokens": 0.5}, "tokens"),
        ({"strategy": "magic"}, "strategy"),
        ({"strategy": "other"}, "strategy"),  # recorded, never priced
        ({"strategy": "lora", "trainable_fraction": 1.5}, "trainable_fraction"),
        ({"strategy": "lora", "trainable_fraction": 0.0}, "trainable_fraction"),
        ({"gpus": 0}, "gpus"),
        ({"gpus": 1.5}, "gpus"),
        ({"precision": "int3"}, "precision"),
        ({"usd_per_label": -1.0, "labelled_samples": 3}, "usd_per_label"),
        ({"seq_len": 0}, "seq_len"),
    ],
)
def test_impossible_scenarios_are_clear_errors(kw, words):
    base = {"params": 1e6, "tokens": 1e6, "gpu": "FAKE-GPU"}
    with pytest.raises(EstimatorError, match=words):
        est.estimate(est.Scenario(**{**base, **kw}), model=est.prior_model(), prices=CAT)


def test_a_batch_error_names_the_scenario():
    good = est.Scenario(params=1e6, tokens=1e6, gpu="FAKE-GPU")
    with pytest.raises(EstimatorError, match=r"scenario 2 of 3"):
        est.estimate_many([good, replace(good, tokens=0), good], model=est.prior_model(),
                          prices=CAT)  # fmt: skip


def test_unknown_accelerator_is_a_clear_error():
    with pytest.raises(UnknownAcceleratorError):
        est.estimate(est.Scenario(params=1e6, tokens=1e6, gpu="Z9"), model=est.prior_model(),
                     prices=CAT)  # fmt: skip
