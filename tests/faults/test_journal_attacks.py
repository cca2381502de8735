"""Journals that cannot block, rewrite or stray (issue 24, failures 4 to 7): a line out of bounds
is quarantined and the rest replayed; a file writes to its own run only, never an id; a journal
goes to the store it was recorded for; a full disk during sync is said as such, keeps the journal
and rewinds no count; a large journal syncs in bounded memory, with progress."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from costlens.core.errors import RunNotFoundError
from costlens.record import journal, journal_files
from costlens.store import open_store
from costlens.store.ingest import insert_run, insert_samples
from costlens.store.queries import count_samples, get_run
from costlens.store.url import store_label
from tests.faults.conftest import profiled, report

ROW = [0, -1, None, None, None, None, None, None, None, 5.0, 10]  # after run id and time


def _journal(run_id: str, *, store: str | None = None, steps: tuple[int, ...] = (4,)) -> Path:
    """A closed journal as the recorder writes it: header, then per flush samples, rank, update."""
    more = {"store": store} if store else {}
    j = journal.Journal(
        run_id, 0, header={"id": run_id, "started_at": datetime(2026, 1, 1)}, **more
    )
    for i, n in enumerate(steps):
        rank = {"run_id": run_id, "rank": 0, "host": "h", "steps": n, "samples": 2 * n}
        rank["updated_at"] = datetime(2026, 1, 1, 0, 0, i)
        j.flush_batch([[run_id, 1.0 + i, *ROW]], rank, run_id, {"heartbeat_at": rank["updated_at"]})
    j.update(run_id, {"status": "completed", "ended_at": datetime(2026, 1, 1, 1)})
    j.close()
    return j.path


def _ok(res) -> None:
    assert "costlens bug" not in res.err and "Traceback" not in res.err, res.err


# -- 4: one bad line blocked sync for good ---------------------------------------------------

BAD_LINES = {
    "5000-digit integer": '{"k":"update","run_id":"r4","v":{"steps":' + "9" * 5000 + "}}",
    "1e29 as an integer": '{"k":"update","run_id":"r4","v":{"params_total":1' + "0" * 29 + "}}",
    "1e29 in a sample": '{"k":"samples","rows":[["r4",9.0,0,-1,null,1'
    + "0" * 29
    + ",null,null,null,5.0,10]]}",
    "negative steps": '{"k":"rank","v":{"run_id":"r4","rank":0,"steps":-5}}',
    "text too long": '{"k":"update","run_id":"r4","v":{"status":"' + "x" * 100 + '"}}',
}


@pytest.mark.parametrize("bad", sorted(BAD_LINES))
def test_a_line_out_of_bounds_is_quarantined_and_the_rest_replayed(bad, store, cli, caplog):
    path = _journal("r4", steps=(3, 4))
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(3, BAD_LINES[bad] + "\n")  # a bad line in the middle of the run
    path.write_text("".join(lines))
    res = cli("sync", "--db", store.url)
    _ok(res)
    assert res.code == 0 and "synced 8 journal records" in res.out, res.out + res.err
    assert (journal.quarantine_dir() / path.name).exists() and not journal_files.pending_files()
    assert "line 4:" in caplog.text and str(journal.quarantine_dir()) in caplog.text
    rec = get_run(store, "r4")
    assert rec["status"] == "completed" and rec["steps"] == 4 and rec["samples"] == 8
    assert count_samples(store, "r4") == 2
    again = cli("sync", "--db", store.url)  # and nothing blocks the next sync
    assert again.code == 0 and "nothing to sync" in again.out
    report(f"journal line: {bad}", 2, count_samples(store, "r4"))


# -- 5: an update could rewrite any stored run, its id included ------------------------------


def test_a_journal_writes_to_its_own_run_only_and_never_an_id(store, cli, caplog):
    insert_run(store, {"id": "victim", "started_at": datetime(2025, 1, 1), "name": "theirs"})
    insert_samples(store, [("victim", 1.0, *ROW)])
    path = _journal("r5")
    with open(path, "a") as fh:
        for rec in (
            {"k": "update", "run_id": "victim", "v": {"name": "pwned", "status": "failed"}},
            {"k": "update", "run_id": "r5", "v": {"id": "victim2"}},
            {"k": "rank", "v": {"run_id": "victim", "rank": 0, "steps": 10**9}},
            {"k": "samples", "rows": [["victim", 99.0, *ROW]]},
        ):
            fh.write(json.dumps(rec) + "\n")
    res = cli("sync", "--db", store.url)
    _ok(res)
    assert res.code == 0
    victim = get_run(store, "victim")
    assert victim["name"] == "theirs" and victim["status"] == "running"
    assert victim["steps"] == 0 and count_samples(store, "victim") == 1
    own = get_run(store, "r5")
    assert own is not None and own["status"] == "completed" and count_samples(store, "r5") == 1
    assert (journal.quarantine_dir() / path.name).exists()
    assert "not to this journal's run 'r5'" in caplog.text


# -- 6: a journal went into whichever store was named ----------------------------------------


def test_a_journal_goes_to_the_store_it_was_recorded_for(tmp_path: Path, cli):
    a, b = tmp_path / "a" / "a.db", tmp_path / "b.db"
    url_a, url_b = f"sqlite:///{a}", f"sqlite:///{b}"
    open_store(url_b).dispose()
    out = profiled(url_a)  # a's folder does not exist yet: the run stays in the journal
    assert f"`costlens sync` writes it to {store_label(url_a)}" in out.err  # the note names it
    (path,) = journal_files.pending_files()
    res = cli("sync", "--db", url_b)  # the wrong store: refused, naming both
    _ok(res)
    assert res.code == 1 and store_label(url_a) in res.err and store_label(url_b) in res.err
    assert "--into" in res.err and path.exists()
    with open_store(url_b) as sb, pytest.raises(RunNotFoundError):
        get_run(sb, out.run.id)
    a.parent.mkdir()
    open_store(url_a).dispose()
    res = cli("sync")  # no --db: each journal to its own store
    _ok(res)
    assert res.code == 0 and f"to {store_label(url_a)}" in res.out, res.out + res.err
    with open_store(url_a) as sa:
        assert count_samples(sa, out.run.id) == out.taken
    report("journal recorded for a.db, sync --db b.db refused", out.taken, out.taken)


def test_into_writes_a_journal_into_another_store_when_told(tmp_path: Path, cli):
    url_a, url_b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    open_store(url_b).dispose()
    path = _journal("r6", store=store_label(url_a))
    res = cli("sync", "--into", url_b)
    _ok(res)
    assert res.code == 0 and not path.exists()
    with open_store(url_b) as sb:
        assert get_run(sb, "r6")["status"] == "completed"
    assert not (tmp_path / "a.db").exists()


# -- 7: a full disk during sync said "costlens bug" and rewound steps to 0 -------------------


def test_disk_full_during_sync_keeps_the_journal_and_rewinds_no_count(store, cli, monkeypatch):
    path = _journal("r7", steps=(0, 100, 464))
    text = path.read_text()
    assert cli("sync", "--db", store.url).code == 0
    assert get_run(store, "r7")["steps"] == 464
    path.write_text(text)  # a journal the store already holds (e.g. a sync that died before rm)
    from costlens.store import ingest

    calls = {"n": 0}
    real = ingest.replace_samples

    def full_after_one(st, rows):
        calls["n"] += 1
        if calls["n"] > 1:
            raise OperationalError(
                "INSERT", {}, sqlite3.OperationalError("database or disk is full")
            )
        return real(st, rows)

    monkeypatch.setattr(ingest, "replace_samples", full_after_one)
    res = cli("sync", "--db", store.url)
    _ok(res)
    assert res.code == 1 and "is full" in res.err and "nothing is lost" in res.err, res.err
    assert path.exists() and path.read_text() == text  # the journal is kept, whole
    rec = get_run(store, "r7")
    assert rec["steps"] == 464 and rec["samples"] == 928  # never rewound (was 464 -> 0)
    monkeypatch.setattr(ingest, "replace_samples", real)  # space again (undo() would also
    # drop the test's own COSTLENS_HOME and sync the user's real journals)
    assert cli("sync", "--db", store.url).code == 0 and get_run(store, "r7")["steps"] == 464
    report("disk full during sync (steps kept at 464)", 464, get_run(store, "r7")["steps"])


# -- a 364 MB journal synced at 5.3x its size in memory, with no progress ---------------------

MEMORY_SCRIPT = """
import resource, sys
from costlens.cli import main
try:
    main(["sync", "--db", sys.argv[1]])
except SystemExit as exc:
    code = exc.code
print("maxrss_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code)
"""


def _peak_rss_mib(tmp_path: Path, url: str) -> tuple[float, str]:
    import os
    import subprocess
    import sys

    script = tmp_path / "sync_rss.py"
    script.write_text(MEMORY_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), url],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ},
    )
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("maxrss_kib")][-1]
    _, kib, code = line.split()
    assert code in ("0", "None"), proc.stderr
    return int(kib) / 1024, proc.stderr


def test_a_large_journal_syncs_in_bounded_memory_with_progress(store, tmp_path: Path):
    small = _journal("r-small")
    base_mib, _ = _peak_rss_mib(tmp_path, store.url)
    assert not small.exists()
    j = journal.Journal("r-big", 0, header={"id": "r-big", "started_at": datetime(2026, 1, 1)})
    batch = [["r-big", 0.0, *ROW] for _ in range(2000)]
    t = 0.0
    while j.size < 24 * 2**20:
        for row in batch:
            t += 0.001
            row[1] = t
        j.samples(batch)
    j.close()
    size_mib = j.size / 2**20
    peak_mib, err = _peak_rss_mib(tmp_path, store.url)
    assert count_samples(store, "r-big") == j.sample_rows
    assert "costlens: syncing" in err and "100%" in err  # progress on stderr
    grown = peak_mib - base_mib
    report(
        f"{size_mib:.0f} MiB journal: peak memory +{grown:.0f} MiB", j.sample_rows, j.sample_rows
    )
    assert grown < 0.5 * size_mib, (base_mib, peak_mib, size_mib)  # was 5.3x the file
