"""Journal files that are corrupt, torn or foreign; SIGTERM during a hung write; a store slow to
open on a loaded machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import psycopg

from costlens.record import journal, journal_files
from costlens.store import open_store
from costlens.store.queries import count_samples, get_run, list_runs
from tests.faults.conftest import STEPS, assert_all_kept, profiled, report

ROW = ["r-ok", 1.0, 0, -1, None, None, None, None, None, None, None, 5.0, 10]


def _good_journal(run_id: str = "r-ok") -> Path:
    j = journal.Journal(run_id, 0, header={"id": run_id, "started_at": datetime(2026, 1, 1)})
    j.samples([[run_id, 1.0 + i, *ROW[2:]] for i in range(3)])
    j.update(run_id, {"status": "completed"})
    j.close()
    return j.path


def _foreign_files() -> dict[str, bytes]:
    return {
        "bytes.jsonl": b"\xff\xfe\x00garbage\xff\n" * 3,
        "shape.jsonl": b'{"k": "samples", "rows": [[1, 2]]}\n{"k": "update", "v": []}\n',
        "foreign.jsonl": b'{"event": "login", "user": "alice"}\n[1, 2, 3]\n',
        "nan.jsonl": b'{"k": "update", "run_id": "x", "v": {"energy_j": NaN}}\n',
    }


def test_corrupt_and_foreign_journals_are_quarantined_and_no_command_fails(store, cli, caplog):
    good = _good_journal()
    folder = journal_files.journal_dir()
    bad = _foreign_files()
    for name, data in bad.items():
        (folder / name).write_bytes(data)
    url = store.url
    for args in (("runs", "--db", url), ("show", "r-ok", "--db", url)):
        res = cli(*args)
        assert "costlens bug" not in res.err and "Traceback" not in res.err
    res = cli("sync", "--db", url)
    assert res.code == 0, res.err
    assert "synced 3 journal records" in res.out  # the good file, whole (run, samples, update)
    quarantined = sorted(p.name for p in journal.quarantine_dir().iterdir())
    assert quarantined == sorted(bad)
    assert not good.exists() and not journal_files.pending_files()
    text = caplog.text  # one warning each, naming the file and what was lost
    assert all(text.count(f"journal {name} is damaged") == 1 for name in bad)
    assert "unreadable line" in text and "kept as" in text
    assert count_samples(store, "r-ok") == 3 and get_run(store, "r-ok")["status"] == "completed"
    report("corrupt/foreign journal files (4) beside a good one", 3, count_samples(store, "r-ok"))
    assert cli("runs", "--db", url).code == 0  # and nothing fails later either


def test_torn_last_line_replays_the_rest(store, cli, caplog):
    path = _good_journal("r-torn")
    with open(path, "a") as fh:
        fh.write('{"k": "samples", "rows": [["r-torn", 9.0')  # SIGKILL mid-write
    res = cli("sync", "--db", store.url)
    assert res.code == 0 and "synced 3" in res.out
    assert "torn last line" in caplog.text and not path.exists()
    assert count_samples(store, "r-torn") == 3
    report("torn last journal line", 3, count_samples(store, "r-torn"))


def test_records_are_validated_one_by_one(store, cli):
    """A record of the wrong shape in a costlens journal: the rest is replayed, the file kept."""
    path = _good_journal("r-mixed")
    with open(path, "a") as fh:
        fh.write(json.dumps({"k": "update", "run_id": "r-mixed", "v": {"no_such": 1}}) + "\n")
        fh.write(json.dumps({"k": "samples", "rows": [["r-mixed", "soon", 0, -1]]}) + "\n")
    assert cli("sync", "--db", store.url).code == 0
    assert (journal.quarantine_dir() / path.name).exists()
    assert count_samples(store, "r-mixed") == 3


SIGTERM_TRAIN = textwrap.dedent(
    """
    import os, time
    import costlens
    with costlens.profile(project="faults", db=os.environ["DB"], sample_interval_s=0.02) as r:
        for i in range(100000):
            r.step(samples=2)
            if i == 5:
                print("ready", flush=True)
            time.sleep(0.01)
    """
)


def test_sigterm_during_a_hung_write(scratch_pg, tmp_path, cli):
    url, _admin, _name = scratch_pg
    open_store(url).dispose()
    script = tmp_path / "train.py"
    script.write_text(SIGTERM_TRAIN)
    env = {**os.environ, "DB": url, "COSTLENS_FLUSH_INTERVAL_S": "0.1", "COSTLENS_QUIET": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(0.5)  # the store has part of the run
    locker = psycopg.connect(url)
    locker.execute("LOCK TABLE samples, run_ranks, runs IN ACCESS EXCLUSIVE MODE")
    time.sleep(0.5)  # the writer hangs on the lock (5 s timeout), sampling goes on
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    exit_s = time.monotonic() - t0
    locker.rollback()
    locker.close()
    assert proc.returncode == -signal.SIGTERM and exit_s < 2.5, (exit_s, err[-2000:])
    assert b"kept in the local journal" in err
    (path,) = journal_files.pending_files()
    expected = sum(
        len(rec["rows"])
        for rec in map(json.loads, path.read_text().splitlines())
        if rec["k"] == "samples"
    )
    assert cli("sync", "--db", url).code == 0
    store = open_store(url)
    (rec,) = list_runs(store)
    kept = count_samples(store, rec["id"])
    report("SIGTERM during a hung write (PostgreSQL locked)", expected, kept)
    assert kept == expected and rec["status"] == "preempted" and rec["steps"] > 5


def test_loaded_machine_start_samples_at_once(store, cli, monkeypatch):
    """The store takes 1 s to open (a loaded machine, a slow migration): samples start at once
    and keep their cadence; the store gets them all once it is open."""
    from costlens.store import db as dbmod

    real = dbmod.open_store

    def slow_open(*a, **k):
        time.sleep(1.0)
        return real(*a, **k)

    monkeypatch.setattr(dbmod, "open_store", slow_open)
    t0 = time.time()
    out = profiled(store.url, steps=STEPS * 2)
    from sqlalchemy import text

    with store.engine.connect() as conn:
        times = [
            r[0]
            for r in conn.execute(
                text("SELECT t_unix_s FROM samples WHERE run_id = :r ORDER BY t_unix_s"),
                {"r": out.run.id},
            )
        ]
    assert times[0] - t0 < 0.3, f"first sample {times[0] - t0:.2f} s after the start"
    in_first_second = sum(1 for t in times if t < t0 + 1.0)
    assert in_first_second >= 10, f"{in_first_second} samples while the store was opening"
    assert_all_kept("store slow to open (1 s)", store, out, steps=STEPS * 2)


def test_store_back_mid_run_is_caught_up_and_the_summary_stays_true(tmp_path, cli):
    """Unreachable at the start (its folder is missing), back mid-run: the writer replays the
    journal, the end removes it, and the summary says nothing about a journal."""
    folder = tmp_path / "later"
    url = f"sqlite:///{folder / 'runs.db'}"
    out = profiled(url, folder.mkdir)
    assert "store unreachable" in out.err  # told when it failed...
    assert "kept in the local journal" not in out.err  # ...and not told a stale story at the end
    assert out.run._recorder.journalled == 0 and not journal_files.pending_files()
    assert_all_kept("store unreachable at the start, back mid-run", open_store(url), out)
