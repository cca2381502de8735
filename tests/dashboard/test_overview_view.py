"""The overview's figures over a period."""

from __future__ import annotations

from datetime import timedelta

import pytest

from costlens.core.errors import UsageError
from costlens.price import sample_summary
from costlens.store import update_run
from costlens.store.queries import utcnow
from dashboard.views import overview as view
from dashboard.views.runs import runs_frame


def test_empty_store_overview_has_no_figures(store, prices):
    ov = view.overview(store, prices)
    assert ov["runs"] == 0 and ov["cost_usd"] is None and ov["spend"].empty
    assert ov["gpu_util_mean_pct"] is None and ov["idle_waste_usd"] is None


def test_overview_figures(filled, prices):
    store, _ = filled
    ov = view.overview(store, prices, "30 days")
    assert ov["runs"] == 7
    df = runs_frame(store, prices)
    assert ov["cost_usd"] == pytest.approx(df["cost_usd"].sum())
    assert ov["gpu_hours"] == pytest.approx(df["gpu_hours"].sum())
    assert ov["energy_kwh"] == pytest.approx((2.0e7 + 1.2e6 + 2.6e7) / 3.6e6)
    assert 0 < ov["gpu_util_mean_pct"] < 100
    assert ov["idle_waste_usd"] is not None and 0 < ov["idle_waste_usd"] < ov["cost_usd"]
    assert set(ov["spend"]["project"]) <= {"vision", "tabular", "nlp", "web"}
    assert ov["spend"]["cost_usd"].sum() == pytest.approx(ov["cost_usd"])
    costs = list(ov["costliest"]["cost_usd"])
    assert costs == sorted(costs, reverse=True) and len(costs) <= 10
    assert view.overview(store, prices, "7 days")["runs"] == 7
    with pytest.raises(UsageError):
        view.period_start("fortnight")


def test_period_excludes_old_runs(filled, prices):
    store, ids = filled
    update_run(store, ids["scratch"], {"started_at": utcnow() - timedelta(days=60),
                                       "ended_at": utcnow() - timedelta(days=59)})  # fmt: skip
    assert view.overview(store, prices, "30 days")["runs"] == 6
    assert view.overview(store, prices, "All time")["runs"] == 7


def test_overview_utilisation_matches_costlens_cost(filled):
    store, ids = filled
    run_ids = list(ids.values())
    ours = view.sample_summaries(store, run_ids)
    theirs = sample_summary(store, run_ids)
    assert set(ours) == {k for k, v in theirs.items() if v["n_util_readings"] or k in ours}
    for rid, v in ours.items():
        assert v["idle_fraction"] == theirs[rid]["idle_fraction"]
        assert v["gpu_util_mean_pct"] == pytest.approx(theirs[rid]["gpu_util_mean_pct"])
    assert ours[ids["scratch"]]["idle_fraction"] == pytest.approx(0.2)  # every fifth reading


def test_a_cpu_only_store_shows_host_facts_not_dashes(store, prices):
    """No GPU anywhere: run-hours, process CPU-hours, peak memory and host CPU energy instead."""
    from costlens.store import insert_run, insert_samples
    from tests.dashboard.fill import _host_samples

    start = utcnow() - timedelta(hours=2)
    insert_run(store, {
        "id": "cpuonly000000000000000001", "project": "tabular", "name": "gbm", "status":
        "completed", "started_at": start, "ended_at": start + timedelta(minutes=30),
        "strategy": "scratch", "device_count": 0, "cpu_energy_j": 7.2e4,
        "cpu_energy_basis": "estimate",
    })  # fmt: skip
    insert_samples(store, _host_samples("cpuonly000000000000000001", start, 180))
    ov = view.overview(store, prices, "7 days")
    assert ov["cpu_only"] and ov["runs"] == 1
    assert ov["run_hours"] == pytest.approx(0.5)
    # the host readings average 54.5% CPU: 0.545 x 0.5 h
    assert ov["process_cpu_hours"] == pytest.approx(0.545 * 0.5)
    assert ov["host_ram_peak_bytes"] == 8 * 2**30 + 179 * 2**20
    assert ov["cpu_energy_kwh"] == pytest.approx(0.02) and ov["cpu_energy_bases"] == ["estimate"]
