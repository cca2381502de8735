"""The one run listing and the one lost rule: the SQL filter and the record's status agree."""

from __future__ import annotations

from datetime import timedelta

import pytest

from costlens.core.errors import UsageError
from costlens.core.vocab import RUN_STATUSES
from costlens.store import insert_run
from costlens.store.queries import effective_status, list_runs, mark_lost_runs, utcnow

# (id, stored status, heartbeat age in s or None); COSTLENS_LOST_AFTER_S is 60 in these tests.
CASES = [
    ("run-fresh", "running", 5.0),
    ("run-no-beat", "running", None),
    ("run-stale", "running", 600.0),
    ("run-stored-lost", "lost", 600.0),
    ("run-done", "completed", 600.0),
    ("run-failed", "failed", None),
]
EXPECTED = {"run-fresh": "running", "run-no-beat": "running", "run-stale": "lost",
            "run-stored-lost": "lost", "run-done": "completed", "run-failed": "failed"}  # fmt: skip


def _fill(store) -> None:
    now = utcnow()
    for i, (rid, status, age) in enumerate(CASES):
        insert_run(store, {
            "id": rid, "status": status, "project": "even" if i % 2 == 0 else "odd",
            "started_at": now - timedelta(hours=len(CASES) - i),  # later cases are newer
            "heartbeat_at": None if age is None else now - timedelta(seconds=age),
        })  # fmt: skip


def test_every_status_filter_matches_the_records_status(any_store, monkeypatch):
    monkeypatch.setenv("COSTLENS_LOST_AFTER_S", "60")
    _fill(any_store)
    shown = {r["id"]: r["status"] for r in list_runs(any_store)}
    assert shown == EXPECTED
    for status in RUN_STATUSES:
        listed = [r["id"] for r in list_runs(any_store, status=status)]
        want = [rid for rid, _, _ in reversed(CASES) if EXPECTED[rid] == status]
        assert listed == want, status  # filtered in SQL, newest first


def test_limit_applies_after_the_status_filter(any_store, monkeypatch):
    monkeypatch.setenv("COSTLENS_LOST_AFTER_S", "60")
    _fill(any_store)
    # The newest runs are not running ones: the limit still returns the newest running run.
    assert [r["id"] for r in list_runs(any_store, status="running", limit=1)] == ["run-no-beat"]
    assert [r["id"] for r in list_runs(any_store, status="lost", limit=1)] == ["run-stored-lost"]
    assert [r["id"] for r in list_runs(any_store, project="odd", limit=2)] == [
        "run-failed", "run-stored-lost"]  # fmt: skip


def test_since_and_a_shorter_threshold(any_store, monkeypatch):
    _fill(any_store)
    since = utcnow() - timedelta(hours=2, minutes=30)
    assert [r["id"] for r in list_runs(any_store, since=since)] == ["run-failed", "run-done"]
    monkeypatch.setenv("COSTLENS_LOST_AFTER_S", "1")  # read at each call
    assert [r["id"] for r in list_runs(any_store, status="lost")] == [
        "run-stored-lost", "run-stale", "run-fresh"]  # fmt: skip
    assert mark_lost_runs(any_store) == 2  # stale and fresh; never one without a heartbeat
    assert list_runs(any_store, status="running")[0]["id"] == "run-no-beat"


def test_effective_status_at_the_cutoff(monkeypatch):
    monkeypatch.setenv("COSTLENS_LOST_AFTER_S", "60")
    now = utcnow()
    assert effective_status("running", now - timedelta(seconds=59), now) == "running"
    assert effective_status("running", now - timedelta(seconds=61), now) == "lost"
    assert effective_status("completed", now - timedelta(days=1), now) == "completed"


def test_bad_filters_are_usage_errors(store):
    with pytest.raises(UsageError, match="unknown status"):
        list_runs(store, status="weird")
    with pytest.raises(UsageError, match="at least 1"):
        list_runs(store, limit=0)
