"""Strategies side by side: savings, ROI, break-even, and a shift that moves them all alike."""

from __future__ import annotations

import math

import pytest

from costlens import estimator as est
from tests.estimator.helpers import PRICES as CAT


def test_compare_savings_roi_and_break_even():
    m = est.prior_model()
    s = est.Scenario(params=1e9, tokens=1e9, strategy="lora", gpu="FAKE-GPU", gpus=8)
    out = est.compare(s, model=m, prices=CAT, scratch_tokens=1e11)
    rows = {r["strategy"]: r for r in out["strategies"]}
    assert set(rows) == set(est.STRATEGIES) == {"scratch", "full-finetune", "lora",
                                                "frozen-features"}  # fmt: skip
    scratch, lora = rows["scratch"], rows["lora"]
    assert scratch["flops"] == pytest.approx(6e20)
    save = scratch["total_cost_usd"] - lora["total_cost_usd"]
    assert out["compared_strategy"] == "lora"
    assert out["savings_usd"] == pytest.approx(save)
    assert out["roi"] == pytest.approx(save / lora["total_cost_usd"])
    assert out["break_even_jobs"] == pytest.approx(scratch["cost_usd"] / save)
    assert out["savings_usd_low"] < out["savings_usd"] < out["savings_usd_high"]
    assert out["best_strategy"] == "frozen-features"
    assert "savings_usd" not in scratch


def test_a_scratch_scenario_is_compared_with_the_transfer_that_saves_most():
    m = est.prior_model()
    s = est.Scenario(params=1e9, tokens=1e9, gpu="FAKE-GPU", labelled_samples=10,
                     usd_per_label=1.0)  # fmt: skip
    out = est.compare(s, model=m, prices=CAT, scratch_labelled_samples=1000)
    rows = {r["strategy"]: r for r in out["strategies"]}
    best = max((r for r in rows.values() if r["strategy"] != "scratch"),
               key=lambda r: r["savings_usd"])  # fmt: skip
    assert out["compared_strategy"] == best["strategy"]
    assert rows["scratch"]["label_cost_usd"] == 1000.0 and rows["lora"]["label_cost_usd"] == 10.0


def test_without_prices_savings_are_unknown():
    m = est.prior_model()
    out = est.compare(est.Scenario(params=1e6, tokens=1e8, gpu="CPU", precision="fp32"),
                      model=m, prices=CAT)  # fmt: skip
    assert out["savings_usd"] is None and out["compared_strategy"] is None
    assert out["best_strategy"] is None


def test_compare_anchored_on_a_run_shifts_every_strategy_alike():
    m = est.prior_model()
    s = est.Scenario(params=1e9, tokens=1e9, gpu="FAKE-GPU")
    plain = est.compare(s, model=m, prices=CAT)
    fast = est.compare(s, model=m, prices=CAT, log_eff_offset=math.log(0.5))
    for a, b in zip(plain["strategies"], fast["strategies"], strict=True):
        assert b["wall_hours"] == pytest.approx(2 * a["wall_hours"])
    assert fast["roi"] == pytest.approx(plain["roi"])
