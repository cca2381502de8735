"""cost.samples over store.costing: chunked SQL aggregates give the same summary."""

from __future__ import annotations

import pytest

from costlens.cost import sample_summary
from costlens.store import costing
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
