"""cost.quotes and cost.alternatives: which instance bills a run, why, and memoised look-ups."""

from __future__ import annotations

from pathlib import Path

import pytest

from costlens.core.errors import PriceNotFoundError
from costlens.price import add_cost_columns, alternatives, choose_quote, price_rows, run_cost
from costlens.price.tables import PriceTable
from costlens.price.tables import price_table as table

SMALL = Path(__file__).parent.parent / "fixtures" / "prices_small.csv"


@pytest.fixture(scope="module")
def prices() -> PriceTable:
    return PriceTable.load(SMALL)


def test_declared_instance_missing_falls_back_to_its_provider_and_says_so(prices):
    rec = {"provider": "testcloud", "instance_type": "tc.gone"}
    q, why = choose_quote(rec, "A100-80GB-SXM", 1, prices)
    assert q.instance_type == "tc.1xa100"  # cheapest 1-GPU testcloud A100: $2.75/h
    assert why == (
        "declared instance 'tc.gone' is not in the price table for A100-80GB-SXM; cheapest "
        "on-demand A100-80GB-SXM instance on testcloud (as recorded with the run)"
    )


def test_recorded_provider_without_price_falls_back_to_the_whole_table(prices):
    q, why = choose_quote({"provider": "nocloud"}, "A100-80GB-SXM", 1, prices)
    assert q.instance_type == "tc.1xa100"
    assert why.startswith("no A100-80GB-SXM price on nocloud; no instance declared: cheapest")


def test_asked_provider_or_instance_without_price_raises(prices):
    with pytest.raises(PriceNotFoundError):
        choose_quote({}, "A100-80GB-SXM", 1, prices, provider="nocloud")
    with pytest.raises(PriceNotFoundError):
        choose_quote({"provider": "testcloud"}, "A100-80GB-SXM", 1, prices, instance="tc.gone")


def test_cpu_quote_needs_the_hosts_vcpus(prices):
    q, why = choose_quote({"provider": "testcloud", "host_cpu_count": 8}, "CPU", 0, prices)
    assert q.instance_type == "tc.cpu16"  # tc.cpu4 has too few vCPUs
    assert why == "cheapest on-demand CPU instance on testcloud (as recorded with the run)"
    _, undeclared = choose_quote({"host_cpu_count": 8}, "CPU", 0, prices)
    assert undeclared.endswith("CPU-only instance with at least 8 vCPUs in the price table")


def test_price_row_caveat_reaches_the_breakdown(prices):
    rec = {"id": "r", "device": "NVIDIA H100 80GB HBM3", "device_count": 8, "duration_s": 3600.0,
           "provider": "gcp", "instance_type": "a3-highgpu-8g"}  # fmt: skip
    c = run_cost(rec, prices=prices, alternatives=False)
    assert c["quote"]["region"] == "us-central1"  # $43.06615/h, the cheapest listed region
    assert c["cost_usd"] == pytest.approx(43.06615)
    assert c["quote_note"].startswith("UNCONFIRMED")
    plain = run_cost({**rec, "provider": "testcloud", "device": "A100-80GB", "instance_type": None},
                     prices=prices, alternatives=False)  # fmt: skip
    assert plain["quote_note"] is None


def test_alternatives_bill_whole_instances(prices):
    # 3 GPUs on testcloud: no 3-GPU instance, so the smallest larger one (8 GPUs, $20.00/h):
    # 1 instance x $20.00 x 1.5 h = $30.00; spot $6.00 x 1.5 = $9.00.
    alts = {a["provider"]: a for a in alternatives("A100-80GB-SXM", 3, 1.5, prices)}
    tc = alts["testcloud"]
    assert (tc["instance_type"], tc["instances"], tc["gpu_count"]) == ("tc.8xa100", 1, 8)
    assert tc["cost_usd"] == pytest.approx(30.0) and tc["spot_cost_usd"] == pytest.approx(9.0)
    # Unknown duration: instances still known, no dollars.
    (tc_none,) = [a for a in alternatives("A100-80GB-SXM", 3, None, prices)
                  if a["provider"] == "testcloud"]  # fmt: skip
    assert tc_none["cost_usd"] is None and tc_none["instances"] == 1


def test_pricing_many_runs_looks_each_question_up_once(monkeypatch):
    calls = []
    real = table.cheapest_row

    def counting(*args, **kwargs):
        calls.append(args[1:])
        return real(*args, **kwargs)

    monkeypatch.setattr(table, "cheapest_row", counting)
    fresh = PriceTable.load(SMALL)
    recs = [{"id": f"r{i}", "device": "NVIDIA A100-SXM4-80GB", "device_count": 8,
             "duration_s": 3600.0 + i, "provider": "testcloud", "instance_type": "tc.8xa100"}
            for i in range(300)]  # fmt: skip
    out = add_cost_columns(recs, prices=fresh)
    assert len(calls) == 1  # one declared-instance look-up, memoised by the table
    assert out[299]["cost_usd"] == pytest.approx(20.0 * 3899 / 3600)


def test_price_rows_filter_sort_and_limit(prices):
    rows = price_rows(prices, provider="TestCloud")
    assert [r["instance_type"] for r in rows] == ["tc.cpu4", "tc.cpu16", "tc.8xa100", "tc.1xa100"]
    # per GPU-hour: cpu4 $0.20, cpu16 $0.80 (per instance-hour), 8xa100 $2.50, 1xa100 $2.75
    spot = price_rows(prices, provider="testcloud", spot=True, limit=2)
    assert [(r["instance_type"], r["spot_usd_per_gpu_hour"]) for r in spot] == [
        ("tc.cpu4", 0.05),
        ("tc.8xa100", 0.75),  # $6.00 / 8 GPUs
    ]
    assert rows[3]["spot_price_usd_hour"] is None and rows[3]["origin"] == "user"
