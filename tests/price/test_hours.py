"""One rule for device-hours and $ per device-hour (core.hours): a GPU run in GPU-hours, a CPU run
in instance-hours, the same through every path that prices runs (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from costlens.core import hours
from costlens.price import add_cost_columns, price_rows, run_cost
from costlens.price.columns import _unpriced
from costlens.price.tables import PriceTable

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.fixture(scope="module")
def prices() -> PriceTable:
    return PriceTable.load(FIXTURES / "prices_small.csv")


GPU_RUN = {"id": "g", "device": "NVIDIA A100-SXM4-80GB", "device_count": 8, "duration_s": 7200.0,
           "flops": 0.0, "provider": "testcloud", "instance_type": "tc.8xa100"}  # fmt: skip
# A CPU run as the recorder may store it: device "cpu" with a count of 1 (the old listing counted
# this as 0.5 GPU-hours while the breakdown said 0).
CPU_RUN = {"id": "c", "device": "cpu", "device_count": 1, "duration_s": 1800.0, "flops": 0.0,
           "host_cpu_count": 8}  # fmt: skip


def test_a_gpu_run_in_gpu_hours(prices):
    c = run_cost(GPU_RUN, prices=prices, alternatives=False)
    # 8 GPUs x 2 h = 16 GPU-hours
    assert (c["device_kind"], c["device_hours"], c["gpu_hours"]) == ("gpu", 16.0, 16.0)


def test_a_cpu_run_in_instance_hours_never_gpu_hours(prices):
    c = run_cost(CPU_RUN, prices=prices, alternatives=False)
    # 1800 s on one host = 0.5 instance-hours; no GPU-hours at all
    assert (c["device_kind"], c["device_hours"], c["gpu_hours"]) == ("cpu", 0.5, None)
    assert c["cost_usd"] == pytest.approx(0.5 * c["quote"]["usd_per_hour"])


@pytest.mark.parametrize("run", [GPU_RUN, CPU_RUN], ids=["gpu", "cpu"])
def test_priced_and_unpriced_listings_agree_with_the_breakdown(prices, run):
    keys = ("device_kind", "device_hours", "gpu_hours")
    full = run_cost(run, prices=prices, alternatives=False)
    listed = add_cost_columns([run], prices=prices)[0]
    unknown = add_cost_columns([{**run, "device": "no such accelerator"}], prices=prices)[0]
    assert {k: listed[k] for k in keys} == {k: full[k] for k in keys}
    if run is GPU_RUN:  # an unknown accelerator cannot be priced: the hours are still facts
        assert unknown["cost_usd"] is None
        assert {k: unknown[k] for k in keys} == {k: full[k] for k in keys}
    # a run whose pricing raises keeps its hours by the same rule (it multiplied by device_count)
    assert {k: _unpriced(run)[k] for k in keys} == {k: full[k] for k in keys}


def test_the_price_per_device_hour_is_one_rule(prices):
    assert hours.usd_per_device_hour(20.0, 8) == 2.5  # per GPU-hour
    assert hours.usd_per_device_hour(0.8, 0) == 0.8  # CPU-only: per instance-hour
    assert hours.usd_per_device_hour(float("nan"), 8) is None
    for row in price_rows(prices):
        assert row["usd_per_gpu_hour"] == hours.usd_per_device_hour(
            row["price_usd_hour"], row["gpu_count"]
        )
        assert row["spot_usd_per_gpu_hour"] == hours.usd_per_device_hour(
            row["spot_price_usd_hour"], row["gpu_count"]
        )
