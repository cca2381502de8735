"""reports: the library's one run listing with cost keys (what `costlens runs` and the
dashboard show)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from costlens.price import COST_KEYS
from costlens.price.reports import run_detail, run_rows
from costlens.price.tables import PriceTable
from costlens.store import insert_run
from costlens.store.models import RUN_KEYS
from costlens.store.queries import utcnow
from tests.conftest import FIXTURES

SMALL = FIXTURES / "prices_small.csv"


def test_rows_and_detail_carry_facts_and_costs(store):
    t0 = utcnow() - timedelta(hours=3)
    insert_run(store, {"id": "priced01", "started_at": t0, "ended_at": t0 + timedelta(hours=2),
                       "status": "completed", "device_name": "NVIDIA A100-SXM4-80GB",
                       "device_count": 8, "provider": "testcloud", "instance_type": "tc.8xa100",
                       "strategy": "lora"})  # fmt: skip
    insert_run(store, {"id": "unknown1", "started_at": t0 + timedelta(minutes=1),
                       "ended_at": t0 + timedelta(hours=1, minutes=1), "status": "completed",
                       "device_name": "NVIDIA GeForce RTX 4090", "device_count": 2})  # fmt: skip
    prices = PriceTable.load(SMALL)
    rows = run_rows(store, prices)
    assert [r["id"] for r in rows] == ["unknown1", "priced01"]
    assert all(set(RUN_KEYS) | set(COST_KEYS) <= set(r) for r in rows)
    # 1 x tc.8xa100 x $20.00/h x 2 h = $40.00; 8 GPUs x 2 h = 16 GPU-hours.
    assert (rows[1]["cost_usd"], rows[1]["gpu_hours"]) == (pytest.approx(40.0), 16.0)
    # An accelerator without a price: no dollars, but its GPU-hours are a fact (2 x 1 h).
    assert rows[0]["cost_usd"] is None and rows[0]["gpu_hours"] == pytest.approx(2.0)
    assert [r["id"] for r in run_rows(store, prices, strategy="lora")] == ["priced01"]
    assert run_detail(store, "pri", prices)["cost_usd"] == pytest.approx(40.0)
    assert run_rows(store, prices, since=utcnow()) == []
