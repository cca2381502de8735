"""cost.samples over store.costing: chunked SQL aggregates give the same summary."""

from __future__ import annotations

import pytest

from costlens.price import sample_summary
from costlens.store import aggregates as costing
from costlens.store.ingest import insert_run, insert_samples
from costlens.store.queries import utcnow


def _fill(store, n_runs: int = 3) -> list[str]:
    ids = [f"chunk{i}" for i in range(n_runs)]
    for i, rid in enumerate(ids):
        insert_run(store, {"id": rid, "started_at": utcnow()})
        # Device 0: utilisation 0, 20, 40, 60 -> readings under 10%: 1 of 4. Power 100 + 10*i W.
        insert_samples(store, [(rid, 1000.0 + k, 0, 0, 20.0 * k, None, None, 100.0 + 10 * i,
                                None, None, None, None, None) for k in range(4)])  # fmt: skip
    return ids


def test_chunked_ids_give_the_same_summary(store, monkeypatch):
    ids = _fill(store)
    whole = sample_summary(store, [*ids, ids[0], ""])  # duplicates and blanks are dropped
    monkeypatch.setattr(costing, "ID_CHUNK", 1)
    assert sample_summary(store, ids) == whole
    assert set(whole) == set(ids)
    assert whole["chunk2"]["idle_fraction"] == pytest.approx(0.25)
    assert whole["chunk2"]["gpu_util_mean_pct"] == pytest.approx(30.0)
    assert whole["chunk2"]["power_mean_w_per_device"] == pytest.approx([120.0])
    assert whole["chunk2"]["power_span_s"] == pytest.approx(3.0)
    assert whole["chunk2"]["energy_counter_j"] is None  # no counter readings


def test_utilisation_only_skips_the_power_pass(store):
    ids = _fill(store, 1)
    s = sample_summary(store, ids, power=False)["chunk0"]
    assert s["idle_fraction"] == pytest.approx(0.25)
    assert s["gpu_devices"] == 0 and s["power_mean_w_per_device"] == []
    assert sample_summary(store, []) == {}


def test_both_reads_agree_on_utilisation_over_gpus_and_the_host(any_store):
    """Two GPUs on two nodes and host-only readings: the per-device pass and the per-run
    utilisation read give the same utilisation figures, and a host-only run still appears."""
    insert_run(any_store, {"id": "multi", "started_at": utcnow()})
    insert_run(any_store, {"id": "hostonly", "started_at": utcnow()})
    rows = [("multi", 1.0 + k, node, dev, util, None, None, 200.0, None, None, None, None, None)
            for k, (node, dev, util) in enumerate([(0, 0, 5.0), (0, 0, 50.0), (1, 0, 95.0),
                                                    (1, 1, 1.0), (0, -1, None)])]  # fmt: skip
    rows.append(("hostonly", 1.0, 0, -1, None, None, None, None, None, None, None, 40.0, 2**30))
    insert_samples(any_store, rows)
    full = sample_summary(any_store, ["multi", "hostonly"])
    quick = sample_summary(any_store, ["multi", "hostonly"], power=False)
    keys = ("n_util_readings", "n_idle_readings", "idle_fraction", "gpu_util_mean_pct")
    for rid in ("multi", "hostonly"):
        assert {k: full[rid][k] for k in keys} == pytest.approx({k: quick[rid][k] for k in keys})
    assert full["multi"]["n_util_readings"] == 4 and full["multi"]["n_idle_readings"] == 2
    assert full["multi"]["gpu_util_mean_pct"] == pytest.approx(37.75)
    assert full["multi"]["gpu_devices"] == 3  # (node 0, gpu 0), (node 1, gpu 0), (node 1, gpu 1)
    assert full["hostonly"]["idle_fraction"] is None and full["hostonly"]["gpu_devices"] == 0
