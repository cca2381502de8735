"""The fleet exporter on real stores: runs in flight from the heartbeats, spend per project over
the windows, one store read per cache interval, and ``costlens exporter`` serving it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from costlens.apps.fleet import FleetExporter
from costlens.price.tables import PriceTable
from costlens.store import insert_run
from costlens.store.queries import utcnow

pytest.importorskip("prometheus_client")

M5 = {"provider": "aws", "instance_type": "m5.xlarge", "host_cpu_count": 4}


def fill(store) -> None:
    """Two runs in flight (projects a and b), one lost, one completed 2 h ago (1 h long)."""
    now = utcnow()
    rows = [
        ("fly-a", "a", "running", now - timedelta(minutes=30), now - timedelta(seconds=2), None),
        ("fly-b", "b", "running", now - timedelta(minutes=10), now - timedelta(seconds=3), None),
        ("gone", "a", "running", now - timedelta(hours=5), now - timedelta(hours=4), None),
        ("done", "a", "completed", now - timedelta(hours=3), now - timedelta(hours=2),
         now - timedelta(hours=2)),
    ]  # fmt: skip
    for rid, project, status, started, beat, ended in rows:
        insert_run(store, {"id": rid, "project": project, "status": status, "started_at": started,
                           "heartbeat_at": beat, "ended_at": ended, **M5})  # fmt: skip


def _samples(metrics, name):
    return next(m.samples for m in metrics if m.name == name)


def test_runs_in_flight_and_spend_per_project_from_one_store(any_store, monkeypatch):
    monkeypatch.setenv("COSTLENS_LOST_AFTER_S", "60")
    fill(any_store)
    fleet = FleetExporter(any_store, PriceTable.load(), cache_s=60)
    metrics = fleet.metrics()
    flying = {lb["run_id"] for lb, _ in _samples(metrics, "costlens_fleet_run_in_flight")}
    assert flying == {"fly-a", "fly-b"}  # two at once; the stale heartbeat is lost, not flying
    per_project = {lb["project"]: v for lb, v in _samples(metrics, "costlens_fleet_runs_in_flight")}
    assert per_project == {"a": 1.0, "b": 1.0}
    spent = _samples(metrics, "costlens_fleet_spend_usd")
    spend = {(lb["project"], lb["window"]): v for lb, v in spent}
    cost = {lb["run_id"]: v for lb, v in _samples(metrics, "costlens_fleet_run_cost_usd")}
    rate_per_h = cost["fly-a"] / 0.5  # fly-a has run 30 min
    assert rate_per_h > 0
    assert spend[("a", "1h")] == pytest.approx(0.5 * rate_per_h, rel=0.02)
    # 1d: fly-a 0.5 h + done 1 h + gone 1 h (started 5 h ago, last heartbeat 4 h ago)
    assert spend[("a", "1d")] == pytest.approx(2.5 * rate_per_h, rel=0.02)
    assert spend[("a", "30d")] == pytest.approx(spend[("a", "1d")])
    assert fleet.queries == 1
    assert fleet.metrics() is metrics and fleet.queries == 1  # cached for the scrape interval


def test_a_run_without_a_price_is_counted_not_spent(store):
    now = utcnow()
    insert_run(store, {"id": "x", "project": "p", "status": "running", "started_at": now,
                       "heartbeat_at": now, "device_name": "Mystery Accelerator 9000",
                       "device_count": 1})  # fmt: skip
    metrics = FleetExporter(store, PriceTable.load()).metrics()
    assert _samples(metrics, "costlens_fleet_spend_usd") == []
    assert ({"project": "p", "window": "1h"}, 1.0) in _samples(
        metrics, "costlens_fleet_unpriced_runs"
    )


def test_the_exporter_refuses_a_taken_port_in_one_line(cli, store, sqlite_url):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("exporter", "--db", sqlite_url, "--port", str(port))
    assert result.code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.err
    assert "Traceback" not in result.err
