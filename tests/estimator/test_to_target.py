"""What each strategy needs to reach a target, from SYNTHETIC runs with metric series (test
data: the steps at which each run reaches 0.95 are chosen here, not measured)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from costlens.core.errors import EstimatorError
from costlens.estimator.to_target import compare_at_target, median_interval, project_needs
from costlens.estimator.types import Scenario

STEPS, SAMPLES = 1000, 64_000  # every synthetic run: 1,000 steps of 64 samples
# run id -> (strategy, accuracy at steps 200, 400, ..., 1000)
CURVES = {
    "scratch-1": ("scratch", [0.5, 0.7, 0.96, 0.97, 0.97]),  # reaches at step 600
    "scratch-2": ("scratch", [0.4, 0.6, 0.8, 0.95, 0.96]),  # at 800
    "scratch-3": ("scratch", [0.3, 0.5, 0.7, 0.9, 0.95]),  # at 1000
    "ft-1": ("full-finetune", [0.96, 0.97, 0.98, 0.98, 0.98]),  # at 200
    "ft-2": ("full-finetune", [0.9, 0.95, 0.97, 0.98, 0.98]),  # at 400
    "ft-3": ("full-finetune", [0.9, 0.93, 0.951, 0.97, 0.98]),  # at 600
    "frozen-1": ("frozen-features", [0.8, 0.85, 0.88, 0.9, 0.9]),  # never (best 0.9)
    "frozen-2": ("frozen-features", [0.8, 0.84, 0.86, 0.89, 0.89]),  # never
}


def record_project(store, add_series, project="p", curves=CURVES, with_series=True) -> None:
    """The runs of ``curves`` in ``store`` (A100, 1 GPU, 600 s each), with their series."""
    from costlens.store.ingest import insert_run

    for i, (run_id, (strategy, accs)) in enumerate(curves.items()):
        start = datetime(2026, 1, 1) + timedelta(hours=i)
        insert_run(
            store,
            {
                "id": run_id, "project": project, "status": "completed", "started_at": start,
                "ended_at": start + timedelta(seconds=600), "name": "cnn", "strategy": strategy,
                "params_total": 1_000_000, "params_trainable": 1_000_000, "steps": STEPS,
                "samples": SAMPLES, "flops": 6.0 * 1e6 * SAMPLES, "precision": "bf16",
                "device_name": "NVIDIA A100-SXM4-80GB", "device_count": 1, "world_size": 1,
                "tags_json": '["width=4"]',
            },
        )  # fmt: skip
        if with_series:
            t0 = start.replace(tzinfo=timezone.utc).timestamp()  # evaluations at steps 200..1000
            points = [(200 * (k + 1), t0 + 0.6 * 200 * (k + 1), a) for k, a in enumerate(accs)]
            add_series(store, run_id, points)


def test_the_median_interval_is_the_order_statistics_that_cover_it():
    iv = median_interval([5, 1, 3, 2, 4])
    assert (iv.point, iv.low, iv.high) == (3, 1, 5)
    assert iv.level == pytest.approx(1 - 2 / 32)  # P(min <= median <= max), n = 5
    iv = median_interval(range(1, 21))  # n = 20: (x_7, x_14) covers 88.5%, (x_8, x_13) 73.7%
    assert iv.level == pytest.approx(0.8847, abs=1e-4) and (iv.low, iv.high) == (7, 14)
    assert median_interval(range(1, 21)).level < median_interval([1, 2, 3, 4, 5]).level
    one = median_interval([7.0])
    assert one.point == 7.0 and math.isnan(one.low) and math.isnan(one.high)


def test_steps_samples_and_tokens_to_target_per_strategy(store, series):
    record_project(store, series)
    needs, records = project_needs(store, "accuracy>=0.95", project="p")
    assert len(records) == 8 and needs.runs == 8
    scratch, ft = needs.needs["scratch"], needs.needs["full-finetune"]
    assert (len(scratch.runs), len(scratch.reached)) == (3, 3)
    assert (scratch.steps.point, scratch.steps.low, scratch.steps.high) == (800, 600, 1000)
    assert scratch.samples.point == pytest.approx(800 / STEPS * SAMPLES)
    assert scratch.tokens.point == scratch.samples.point  # no tokens: samples, as Scenario counts
    assert (ft.steps.point, ft.steps.low, ft.steps.high) == (400, 200, 600)
    frozen = needs.needs["frozen-features"]
    assert frozen.reached == () and frozen.tokens is None and frozen.best_value == 0.9
    assert "lora" not in needs.needs  # no runs: nothing said
    assert needs.as_dict()["strategies"][2]["runs_reached"] == 0


def test_every_strategy_is_priced_at_equal_quality(store, series, fitted):
    record_project(store, series)
    needs, records = project_needs(store, "accuracy>=0.95", project="p")
    out = compare_at_target(needs, records, model=fitted)
    rows = {r["strategy"]: r for r in out["strategies"]}
    assert out["target"]["basis"] == "runs" and out["target"]["anchor_run"] == "ft-3"
    s, ft = rows["scratch"], rows["full-finetune"]
    assert s["tokens"] == pytest.approx(51_200) and ft["tokens"] == pytest.approx(25_600)
    assert s["reached_run_ids"] == ["scratch-3", "scratch-2", "scratch-1"]
    assert ft["gpu_hours"] == pytest.approx(s["gpu_hours"] / 2, rel=1e-6)  # half the data
    assert ft["savings_usd"] == pytest.approx(s["total_cost_usd"] - ft["total_cost_usd"])
    assert ft["savings_usd"] > 0 and out["savings_usd"] == ft["savings_usd"]
    assert ft["total_cost_usd_data_low"] < ft["total_cost_usd"] < ft["total_cost_usd_data_high"]
    frozen = rows["frozen-features"]  # never reached: no number, no saving
    assert frozen["reached_target"] is False and frozen["total_cost_usd"] is None
    assert frozen.get("savings_usd") is None and "none of 2 runs reached" in frozen["data_basis"]
    assert rows["lora"]["reached_target"] is None and rows["lora"]["total_cost_usd"] is None
    assert out["best_strategy"] == "full-finetune"


def test_no_series_falls_back_to_the_given_inputs(store, series, fitted):
    record_project(store, series, with_series=False)
    needs, records = project_needs(store, "accuracy>=0.95", project="p")
    assert needs.runs == 0
    with pytest.raises(EstimatorError, match="no completed run here has a metric series"):
        compare_at_target(needs, records, model=fitted)
    s = Scenario(params=1e6, tokens=1e5, gpu="A100-80GB")
    out = compare_at_target(needs, records, scenario=s, model=fitted, scratch_tokens=4e5)
    assert out["target"]["basis"] == "fallback"
    rows = {r["strategy"]: r for r in out["strategies"]}
    assert rows["scratch"]["tokens"] == 4e5 and rows["lora"]["tokens"] == 1e5


def test_a_target_no_run_reached_prices_nothing(store, series, fitted):
    record_project(store, series)
    needs, records = project_needs(store, "accuracy>=0.999", project="p")
    out = compare_at_target(needs, records, model=fitted)
    assert all(r["total_cost_usd"] is None for r in out["strategies"])
    assert out["savings_usd"] is None and out["best_strategy"] is None
    assert out["target"]["anchor_run"] == "frozen-2"  # newest usable run with a series
