"""The dashboard's store reads: runs by period, the runs table's page, filter values, transfer
projects and long timelines read in windows, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from costlens.core.errors import UsageError
from costlens.store import insert_run, insert_samples, update_run
from costlens.store import runs_page as q
from costlens.store.queries import list_runs, utcnow
from costlens.store.timelines import WINDOWED_ABOVE, timeline_windows


def _add(store, rid, *, days_ago, hours, strategy="scratch", project="p", status="completed",
         heartbeat_s_ago=None, name=None):  # fmt: skip
    now = utcnow()
    started = now - timedelta(days=days_ago)
    beat = None if heartbeat_s_ago is None else now - timedelta(seconds=heartbeat_s_ago)
    insert_run(store, {
        "id": rid, "project": project, "name": name or rid, "status": status,
        "strategy": strategy, "started_at": started,
        "ended_at": None if status == "running" else started + timedelta(hours=hours),
        "heartbeat_at": beat,
    })  # fmt: skip


@pytest.fixture(params=["store", "pg_store"])
def runs_store(request):
    store = request.getfixturevalue(request.param)
    _add(store, "a-long", days_ago=10, hours=5, project="vision")
    _add(store, "b-short", days_ago=5, hours=1, strategy="lora", project="vision")
    _add(store, "c-live", days_ago=0.01, hours=0, strategy="lora", status="running",
         heartbeat_s_ago=1, project="nlp")  # fmt: skip
    _add(store, "d-lost", days_ago=1, hours=0, status="running", heartbeat_s_ago=3600,
         project="nlp")  # fmt: skip
    _add(store, "e-failed", days_ago=2, hours=0.5, status="failed", project="nlp")
    return store


def test_runs_since_a_date_newest_first(runs_store):
    ids = [r["id"] for r in list_runs(runs_store, since=utcnow() - timedelta(days=6))]
    assert ids == ["c-live", "d-lost", "e-failed", "b-short"]


def test_runs_page_filters_as_list_runs_does(runs_store):
    for status in ("running", "lost", "completed", "failed"):
        page, total = q.runs_page(runs_store, status=status)
        expected = [r["id"] for r in list_runs(runs_store, status=status)]
        assert [r["id"] for r in page] == expected and total == len(expected), status
    page, total = q.runs_page(runs_store, project="vision", strategy="lora")
    assert [r["id"] for r in page] == ["b-short"] and total == 1
    with pytest.raises(UsageError, match="unknown status"):
        q.runs_page(runs_store, status="sleeping")


def test_runs_page_sorts_and_pages_in_sql(runs_store):
    page, total = q.runs_page(runs_store, order=[("duration_s", True)], limit=2)
    assert total == 5 and [r["id"] for r in page] == ["d-lost", "a-long"]  # 23 h, 5 h
    page, _ = q.runs_page(runs_store, order=[("name", False)], limit=2, offset=2)
    assert [r["id"] for r in page] == ["c-live", "d-lost"]
    page, _ = q.runs_page(runs_store, limit=10)
    assert [r["id"] for r in page][:2] == ["c-live", "d-lost"]  # newest first by default
    with pytest.raises(UsageError, match="cannot sort"):
        q.runs_page(runs_store, order=[("password", False)])


def test_distinct_values_and_transfer_projects(runs_store):
    assert q.distinct_values(runs_store, "project") == ["nlp", "vision"]
    assert q.distinct_values(runs_store, "strategy") == ["lora", "scratch"]
    with pytest.raises(UsageError):
        q.distinct_values(runs_store, "user")
    # nlp's lora run is still running: only vision has completed runs of both kinds
    assert q.transfer_projects(runs_store, ("lora", "full-finetune")) == ["vision"]
    update_run(runs_store, "c-live", {"status": "completed", "ended_at": utcnow()})
    assert q.transfer_projects(runs_store, ("full-finetune",)) == []


def test_a_long_run_is_read_in_windows_a_short_one_is_not(store):
    _add(store, "long", days_ago=1, hours=2)
    _add(store, "short", days_ago=1, hours=2)
    n = WINDOWED_ABOVE + 20_000
    rows = [("long", 1e9 + i * 0.05, 0, 0, float(i % 100), 2**30, 2**31, 300.0, None, None,
             None, 10.0, 2**30) for i in range(n)]  # fmt: skip
    insert_samples(store, rows)
    insert_samples(store, [("short", *r[1:]) for r in rows[:1000]])
    tl = timeline_windows(store, "long", max_points=100)
    assert tl is not None and 50 <= len(tl) <= 100
    assert tl["n"].sum() < n / 10  # windows, not every reading
    assert tl["gpu_util_pct"].between(0, 99).all() and (tl["t_unix_s"].diff().dropna() > 0).all()
    assert timeline_windows(store, "short") is None
    assert timeline_windows(store, "none") is None
