"""The store against real SQLite files and a real PostgreSQL server."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import inspect, text

from costlens.core.errors import RunNotFoundError, StoreError, StoreUnreachableError, UsageError
from costlens.store import db as dbmod
from costlens.store import insert_run, insert_samples, open_store
from costlens.store.models import RUN_KEYS
from costlens.store.queries import (
    get_run,
    list_runs,
    mark_lost_runs,
    runs_frame,
    utcnow,
)
from costlens.store.timelines import sample_stats, sample_timeline
from costlens.store.url import mask_url, resolve_db_url
from tests.store_helpers import sample_rows

HERE = Path(__file__).resolve().parent


def _add_runs(store, n=3):
    now = utcnow()
    for i in range(n):
        insert_run(
            store,
            {
                "id": f"run{i:03d}aaaa",
                "project": "p" if i % 2 == 0 else "q",
                "name": f"run {i}",
                "status": "completed",
                "started_at": now - timedelta(hours=n - i),
                "ended_at": now - timedelta(hours=n - i) + timedelta(minutes=30),
                "steps": 100 * (i + 1),
                "flops": 8.4e22,  # beyond int64: stored as a double
                "params_total": 7_000_000_000,
                "params_trainable": 4_000_000,
                "device_name": "NVIDIA A100-SXM4-80GB",
                "device_count": 8,
                "tags_json": json.dumps(["a", "b"]),
            },
        )


def test_runs_round_trip_newest_first(any_store):
    _add_runs(any_store)
    runs = list_runs(any_store)
    assert [r["id"] for r in runs] == ["run002aaaa", "run001aaaa", "run000aaaa"]
    first = runs[0]
    assert tuple(first) == RUN_KEYS  # every key, in the one order
    assert first["duration_s"] == pytest.approx(1800.0)
    assert first["flops"] == pytest.approx(8.4e22)
    assert first["params_total"] == 7_000_000_000
    assert first["tags"] == ["a", "b"]
    assert first["started_at"].endswith("Z")
    assert [r["id"] for r in list_runs(any_store, project="q")] == ["run001aaaa"]
    assert len(list_runs(any_store, limit=2)) == 2


def test_get_run_by_prefix_and_errors(any_store):
    _add_runs(any_store)
    assert get_run(any_store, "run001")["id"] == "run001aaaa"
    with pytest.raises(RunNotFoundError, match="ambiguous"):
        get_run(any_store, "run")
    with pytest.raises(RunNotFoundError, match="no run"):
        get_run(any_store, "zzz")
    with pytest.raises(RunNotFoundError):
        get_run(any_store, "%")  # LIKE wildcards are not patterns


def test_stale_heartbeat_reads_as_lost(any_store):
    old = utcnow() - timedelta(minutes=10)
    insert_run(any_store, {"id": "stale", "started_at": old, "heartbeat_at": old})
    insert_run(any_store, {"id": "alive", "started_at": old, "heartbeat_at": utcnow()})
    status = {r["id"]: r["status"] for r in list_runs(any_store)}
    assert status == {"stale": "lost", "alive": "running"}
    assert [r["id"] for r in list_runs(any_store, status="lost")] == ["stale"]
    assert mark_lost_runs(any_store) == 1
    assert [r["id"] for r in list_runs(any_store, status="lost")] == ["stale"]  # stored as lost
    assert [r["id"] for r in list_runs(any_store, status="running")] == ["alive"]


def test_timeline_is_downsampled_in_sql(any_store):
    _add_runs(any_store, 1)
    insert_samples(any_store, sample_rows("run000aaaa", 5000))
    insert_samples(any_store, sample_rows("run000aaaa", 5000, device=1))
    tl = sample_timeline(any_store, "run000aaaa", max_points=100)
    assert set(tl["device_index"]) == {0, 1}
    assert len(tl) <= 2 * 100
    assert tl.groupby("device_index")["n"].sum().tolist() == [5000, 5000]
    stats = sample_stats(any_store, ["run000aaaa"])
    assert int(stats.loc[0, "n"]) == 10000 and int(stats.loc[0, "gpu_devices"]) == 2
    assert sample_timeline(any_store, "nothing").empty


def test_runs_frame_columns(any_store):
    _add_runs(any_store, 2)
    frame = runs_frame(any_store)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(RUN_KEYS)


def test_bad_filters_are_usage_errors(store):
    with pytest.raises(UsageError, match="unknown status"):
        list_runs(store, status="weird")


def test_sqlite_runs_in_wal_with_busy_timeout(store):
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == dbmod.SQLITE_BUSY_TIMEOUT_MS


def test_indexes_fit_the_reads(store):
    names = {ix["name"] for ix in inspect(store.engine).get_indexes("samples")}
    assert {"ix_samples_run_time", "ix_samples_run_device_cov"} <= names


def test_migrates_a_store_created_with_the_first_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = dbmod.make_engine(url)
    dbmod.upgrade(engine, "0001")
    assert dbmod.current_revision(engine) == "0001"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO runs (id, project, name, tags_json, status, started_at, host, user,"
                " command, strategy, steps, samples, tokens, flops, precision, world_size,"
                " device_count, metrics_json) VALUES ('old1', 'legacy', 'v1 run', '[]',"
                " 'completed', '2026-01-01 00:00:00', 'h', 'u', 'python t.py', 'scratch', 42,"
                " 0, 0, 1e15, 'fp32', 1, 0, '{\"acc\": 0.9}')"
            )
        )
    engine.dispose()
    store = open_store(url)  # upgrades in place
    assert store.upgraded_from == "0001"
    assert dbmod.current_revision(store.engine) == dbmod.head_revision()
    run = get_run(store, "old1")
    assert (run["steps"], run["metrics"], run["energy_j"]) == (42, {"acc": 0.9}, None)


def test_unreachable_and_corrupt_stores_say_what_to_do(tmp_path):
    with pytest.raises(StoreUnreachableError) as err:
        open_store("postgresql://alice:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(err.value) and "alice:***@" in str(err.value)
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a costlens database"):
        open_store(str(bad))
    with pytest.raises(StoreUnreachableError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")


def test_url_resolution_and_masking(monkeypatch, tmp_path):
    assert resolve_db_url("runs.db").startswith("sqlite:////")
    assert resolve_db_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    monkeypatch.setenv("COSTLENS_DB", f"sqlite:///{tmp_path}/env.db")
    assert resolve_db_url(None) == f"sqlite:///{tmp_path}/env.db"
    assert mask_url("postgresql://u:pw@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite3_corruption_detected_after_open(tmp_path):
    path = tmp_path / "later.db"
    store = open_store(str(path))
    store.dispose()
    with open(path, "r+b") as fh:  # clobber the header
        fh.write(b"\0" * 100)
    with pytest.raises((StoreError, sqlite3.DatabaseError)):
        open_store(str(path))


@pytest.mark.postgres
def test_postgres_connections_run_without_jit(pg_store):
    """JIT compilation cost more than the dashboard's index reads themselves (BENCHMARKS.md)."""
    with pg_store.engine.connect() as conn:
        assert conn.execute(text("SHOW jit")).scalar() == "off"
