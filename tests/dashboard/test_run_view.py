"""One run's view: timeline downsampled in SQL, facts, cost breakdown, providers."""

from __future__ import annotations

import pytest

from costlens.core.errors import RunNotFoundError
from dashboard.views import run as view
from tests.dashboard.fill import A100


def test_run_timeline_downsampled_in_sql(filled):
    store, ids = filled
    tl = view.run_timeline(store, ids["scratch"], max_points=50)
    assert view.has_gpu_readings(tl)
    assert set(tl["device_index"]) == {0, 1}
    assert tl.groupby("device_index").size().max() <= 50
    assert tl["n"].sum() == 600  # every reading counted once
    assert tl["mem_used_gib"].between(29, 31).all()
    cpu = view.run_timeline(store, ids["cpu"])
    assert not view.has_gpu_readings(cpu) and cpu["host_cpu_pct"].notna().all()
    assert view.run_timeline(store, ids["failed"]).empty


def test_run_detail_facts_cost_and_providers(filled, prices):
    store, ids = filled
    rec = view.run(store, prices, ids["scratch"])
    detail = view.run_cost_detail(store, prices, rec)
    facts = dict(view.run_facts(rec, detail))
    assert facts["hardware"] == f"2 x {A100}"
    assert facts["FLOPs executed"] == "2E"
    assert facts["MFU (whole run)"].endswith("%") and facts["MFU (whole run)"] != "n/a"
    parts = dict(view.cost_parts(detail))
    assert parts["instance time"] == pytest.approx(detail["cost_usd"])
    assert any(k.startswith("of which GPUs idle") for k in parts)
    alts = view.provider_alternatives(detail)
    assert len(alts) >= 2 and list(alts["cost_usd"].dropna()) == sorted(alts["cost_usd"].dropna())
    assert any("price table as of" in line for line in view.quote_text(detail))
    assert dict(view.metric_items(rec))["accuracy"] == "0.912"
    with pytest.raises(RunNotFoundError):
        view.run(store, prices, "nope")
    assert view.run_status(store, ids["running"]) == "running"


def test_unpriced_run_has_no_cost_parts(filled, prices):
    store, ids = filled
    rec = view.run(store, prices, ids["cpu"])
    detail = view.run_cost_detail(store, prices, rec)
    assert dict(view.run_facts(rec, detail))["hardware"] == "CPU"
    assert view.cost_parts({"cost_usd": None}) == []
    assert view.provider_alternatives({}).empty


def test_page_data_reads_the_detail_and_the_timeline_at_once(filled, prices):
    store, ids = filled
    record, detail, timeline = view.page_data(store, prices, ids["scratch"][:8])  # an id prefix
    assert record == view.run(store, prices, ids["scratch"])
    assert detail == view.run_cost_detail(store, prices, record)
    assert timeline.equals(view.run_timeline(store, ids["scratch"]))
    with pytest.raises(RunNotFoundError):
        view.page_data(store, prices, "no-such-run")


def test_a_cpu_run_shows_its_process_cpu_memory_and_co2e(filled, prices):
    store, ids = filled
    rec = view.run(store, prices, ids["cpu"])
    detail = view.run_cost_detail(store, prices, rec)
    facts = dict(view.run_facts(rec, detail))
    assert detail["host_cpu_mean_pct"] is not None
    assert facts["process CPU (mean / max)"] != "- / -"
    assert facts["process memory (peak)"].endswith(" GiB")
    assert facts["process CPU-hours"].endswith(" h")
    # the fixture's CPU run has no energy reading at all: no CO2e, and no invented figure
    assert facts["CO2e (all energy)"] == "n/a" and facts["energy (host CPU)"] == "n/a"
