"""Nothing lost, training never harmed: crash, Ctrl-C, SIGTERM, SIGKILL, a dead store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

import costlens
from costlens.record import journal_files
from costlens.store import ingest
from costlens.store.queries import count_samples, get_run, list_runs

TRAIN = textwrap.dedent(
    """
    import os, signal, sys, time
    if "--own-handler" in sys.argv:
        def handler(signum, frame):
            print("own handler", flush=True)
            sys.exit(7)
        signal.signal(signal.SIGTERM, handler)

    def train():
        steps = int(os.environ.get("STEPS", "1000000"))
        run = CURRENT.get("run")
        for i in range(steps):
            if run is not None:
                run.step(samples=4)
            if i == 3:
                print("ready", flush=True)
            if "--crash" in sys.argv and i == 5:
                raise ValueError("loss is nan")
            time.sleep(0.01)

    CURRENT = {}
    if "--bare" in sys.argv:
        train()
    else:
        import costlens
        with costlens.profile(project="res", db=os.environ["DB"], sample_interval_s=0.05) as r:
            CURRENT["run"] = r
            train()
    """
)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "train.py"
    path.write_text(TRAIN)
    return path


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setenv("COSTLENS_FLUSH_INTERVAL_S", "0.2")
    monkeypatch.setenv("COSTLENS_QUIET", "1")


def _start(script: Path, sqlite_url: str, *args: str, env: dict | None = None):
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DB": sqlite_url, **(env or {})},
    )


def _wait_ready(proc: subprocess.Popen, store, min_steps: int = 1, timeout: float = 60) -> dict:
    assert proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = list_runs(store)
        if runs and runs[0]["steps"] >= min_steps:
            return runs[0]
        time.sleep(0.05)
    raise AssertionError("the run never reached the store")


def _the_run(store) -> dict:
    (rec,) = list_runs(store)
    return rec


def test_crash_is_saved_as_failed_and_the_original_traceback_shown(script, store, sqlite_url):
    proc = _start(script, sqlite_url, "--crash", env={"STEPS": "50"})
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "ValueError: loss is nan" in err and "Traceback" in err
    rec = _the_run(store)
    assert rec["status"] == "failed" and rec["steps"] == 6 and rec["samples"] == 24


def test_ctrl_c_is_saved_as_interrupted(script, store, sqlite_url):
    proc = _start(script, sqlite_url)
    _wait_ready(proc, store)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode in (-signal.SIGINT, 130, 1)
    rec = _the_run(store)
    assert rec["status"] == "interrupted" and rec["steps"] > 0


def _sigterm_exit(script: Path, sqlite_url: str, store, *args: str) -> tuple[int, float]:
    proc = _start(script, sqlite_url, *args)
    if store is not None:
        _wait_ready(proc, store)
    else:
        assert proc.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    return proc.returncode, time.monotonic() - t0


@pytest.mark.slow
def test_sigterm_is_saved_as_preempted_within_2s_and_exits_as_without_costlens(
    script, store, sqlite_url
):
    bare_rc, _ = _sigterm_exit(script, sqlite_url, None, "--bare")
    rc, elapsed_s = _sigterm_exit(script, sqlite_url, store)
    assert rc == bare_rc == -signal.SIGTERM
    assert elapsed_s < 2.0
    rec = _the_run(store)
    assert rec["status"] == "preempted" and rec["ended_at"] is not None
    assert rec["exit_code"] == 128 + signal.SIGTERM
    assert rec["steps"] > 0 and count_samples(store, rec["id"]) > 0


@pytest.mark.slow
def test_sigterm_chains_to_the_scripts_own_handler(script, store, sqlite_url):
    bare_rc, _ = _sigterm_exit(script, sqlite_url, None, "--bare", "--own-handler")
    rc, _ = _sigterm_exit(script, sqlite_url, store, "--own-handler")
    assert rc == bare_rc == 7
    assert _the_run(store)["status"] == "preempted"


def test_sigkill_keeps_flushed_data_and_the_run_reads_lost_later(
    script, store, sqlite_url, monkeypatch
):
    proc = _start(script, sqlite_url)
    seen = _wait_ready(proc, store, min_steps=5)
    time.sleep(0.5)  # a few flushes
    proc.kill()
    proc.communicate(timeout=60)
    rec = _the_run(store)
    assert rec["status"] == "running"  # heartbeat fresh
    assert rec["steps"] >= seen["steps"] and count_samples(store, rec["id"]) > 0
    monkeypatch.setenv("COSTLENS_LOST_AFTER_S", "0.5")
    time.sleep(0.8)
    assert get_run(store, rec["id"])["status"] == "lost"


def test_dead_store_mid_run_goes_to_the_journal_and_sync_loses_nothing(
    store, sqlite_url, monkeypatch, cli
):
    real_insert = ingest.insert_samples
    state = {"calls": 0}

    def flaky_insert(s, rows):
        state["calls"] += 1
        if state["calls"] >= 2:  # the store dies after the first flush
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        return real_insert(s, rows)

    def dead(*a, **k):
        raise OperationalError("UPDATE", {}, Exception("server closed the connection"))

    from costlens.record import writer

    monkeypatch.setattr(writer, "uses_child", lambda db: False)  # the patches below reach it
    with monkeypatch.context() as m, costlens.profile(db=sqlite_url, sample_interval_s=0.02) as run:
        time.sleep(0.3)
        m.setattr(ingest, "insert_samples", flaky_insert)
        m.setattr(ingest, "update_run", dead)
        m.setattr(ingest, "upsert_rank", dead)
        for _ in range(40):
            run.step(samples=2)
            time.sleep(0.01)
        run.log(acc=0.75)
    taken = run._recorder.samples_taken
    assert run._recorder.journalled > 0
    assert journal_files.pending_files(), "records must be in the journal"
    in_store_before = count_samples(store, run.id)
    assert in_store_before < taken
    res = cli("sync", "--db", sqlite_url)
    assert res.code == 0, res.err
    assert "synced" in res.out
    assert not journal_files.pending_files()
    rec = get_run(store, run.id)
    assert count_samples(store, run.id) == taken  # zero records lost, none twice
    assert rec["status"] == "completed" and rec["steps"] == 40 and rec["samples"] == 80
    assert rec["metrics"] == {"acc": 0.75}


def test_unreachable_store_from_the_start_then_sync(tmp_path, store, sqlite_url, cli):
    bad = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}"
    with costlens.profile(db=bad, sample_interval_s=0.02, project="offline") as run:
        for _ in range(5):
            run.step(samples=3)
        time.sleep(0.1)
    assert count_samples(store) == 0
    res = cli("sync", "--db", sqlite_url)  # recorded for another store: refused, naming both
    assert res.code == 1 and "--into" in res.err
    res = cli("sync", "--into", sqlite_url)
    assert res.code == 0, res.err
    rec = get_run(store, run.id)
    assert rec["project"] == "offline" and rec["status"] == "completed" and rec["steps"] == 5
    assert count_samples(store, run.id) == run._recorder.samples_taken
