"""SQLite faults mid-run: the file deleted, its folder removed, made read-only, the disk full,
its shared-memory file broken."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from costlens.record import journal_files
from costlens.store import open_store
from costlens.store.queries import count_samples, get_run
from tests.faults.conftest import assert_all_kept, profiled, report, tmpfs, told


def _sync(cli, url: str, *extra: str):
    res = cli("sync", "--db", url, *extra)
    assert res.code == 0, res.err
    return res


def test_deleted_file_keeps_the_whole_run_and_sync_asks_for_create(tmp_path: Path, cli):
    db = tmp_path / "runs.db"
    url = f"sqlite:///{db}"
    open_store(url).dispose()
    out = profiled(url, lambda: os.remove(db))
    assert "store file changed under the run" in out.err  # warned once, at the flush
    assert out.err.count("store file changed under the run") == 1
    assert "kept in the local journal" in out.err and "costlens sync" in out.err
    assert not db.exists() and journal_files.pending_files()
    refused = cli("sync", "--db", url)
    assert refused.code == 1 and "--create" in refused.err and str(db) in refused.err
    assert not db.exists(), "sync never creates a store silently"
    assert "(created)" in _sync(cli, url, "--create").out
    store = open_store(url)
    assert_all_kept("SQLite file deleted mid-run", store, out)  # not only what followed


def test_replaced_file_is_a_dead_store_too(tmp_path: Path, cli):
    db = tmp_path / "runs.db"
    url = f"sqlite:///{db}"
    open_store(url).dispose()

    def replace() -> None:
        other = tmp_path / "other.db"
        open_store(f"sqlite:///{other}").dispose()
        for suffix in ("-wal", "-shm"):  # `rm runs.db*; mv other.db runs.db`
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        os.replace(other, db)  # a new costlens store at the same path

    out = profiled(url, replace)
    assert "was replaced or moved" in out.err
    store = open_store(url)
    assert count_samples(store, out.run.id) == 0  # the new file never got a half run
    _sync(cli, url)
    assert_all_kept("SQLite file replaced mid-run", store, out)


def test_deleted_folder(tmp_path: Path, cli):
    folder = tmp_path / "store"
    folder.mkdir()
    url = f"sqlite:///{folder / 'runs.db'}"
    open_store(url).dispose()
    out = profiled(url, lambda: shutil.rmtree(folder))
    assert "deleted or its folder removed" in out.err and "costlens sync" in out.err
    folder.mkdir()
    _sync(cli, url, "--create")
    assert_all_kept("SQLite folder deleted mid-run", open_store(url), out)


def test_read_only_file(tmp_path: Path, cli):
    """The store file is read-only for the run: on a file system mounted read-only (root), by
    its mode (other users), else as the driver answers (simulated)."""
    mnt = tmp_path / "mnt"
    with tmpfs(mnt) as mounted, pytest.MonkeyPatch.context() as mp:
        url = f"sqlite:///{mnt / 'runs.db'}"
        open_store(url).dispose()
        if mounted:
            assert os.system(f"mount -o remount,ro {mnt}") == 0
        elif os.geteuid() != 0:
            os.chmod(mnt / "runs.db", 0o444)
        else:
            _failing_writes(mp, "attempt to write a readonly database")()
        out = profiled(url)
        assert "store unreachable" in out.err and "kept in the local journal" in out.err
        if mounted:
            assert os.system(f"mount -o remount,rw {mnt}") == 0
        else:
            os.chmod(mnt / "runs.db", 0o644)
        mp.undo()
        _sync(cli, url)
        assert_all_kept("SQLite file read-only", open_store(url), out)


def test_full_disk(tmp_path: Path, cli):
    """The disk under the SQLite file fills up mid-run (a 2 MiB tmpfs, else simulated ENOSPC);
    the journal, on another disk, keeps the run."""
    mnt = tmp_path / "mnt"
    with tmpfs(mnt, size="2m") as mounted, pytest.MonkeyPatch.context() as mp:
        url = f"sqlite:///{mnt / 'runs.db'}"
        open_store(url).dispose()
        filler = mnt / "filler"
        if mounted:

            def fault() -> None:  # fill the rest of the 1 MiB file system
                with _no_space(), open(filler, "wb") as fh:
                    while True:
                        fh.write(b"\0" * 65536)
                        fh.flush()

        else:
            fault = _failing_writes(mp, "database or disk is full")
        out = profiled(url, fault)
        told(out)
        filler.unlink(missing_ok=True)
        mp.undo()
        _sync(cli, url)
        assert_all_kept("disk full under the SQLite file", open_store(url), out)


class _no_space:
    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        return isinstance(exc, OSError)


def _failing_writes(mp: pytest.MonkeyPatch, message: str):
    """Make every later store write fail as SQLite does (where no mount is possible); the writer
    writes in this process, so that the patch reaches it."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from costlens.record import writer
    from costlens.store import ingest

    mp.setattr(writer, "uses_child", lambda db: False)

    def failing(*_a, **_k):
        raise OperationalError("INSERT", {}, sqlite3.OperationalError(message))

    def fault() -> None:
        for name in ("insert_samples", "update_run", "upsert_rank", "insert_run"):
            mp.setattr(ingest, name, failing)

    return fault


SHM_TRAIN = """
import os, sys, time
import costlens
with costlens.profile(project="faults", db=os.environ["DB"], sample_interval_s=0.02) as run:
    deadline = time.monotonic() + 30
    while run._recorder._writer.opening and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(60):
        run.step(samples=2)
        if i == 5:
            print("ready", flush=True)
            sys.stdin.readline()  # the test breaks the store's -shm file
        time.sleep(0.02)
print("trained", run.id, flush=True)
"""


def _break_shm(shm: Path) -> str:
    """Truncate the store's shared-memory file and make it immutable (chattr +i, as the attack
    did) where the file system allows: the next access to SQLite's map of it is a SIGBUS."""
    os.truncate(shm, 0)
    if subprocess.run(["chattr", "+i", str(shm)], capture_output=True).returncode == 0:
        return "truncated and made immutable"
    return "truncated"


def test_broken_shm_file_never_kills_the_training(tmp_path: Path, cli):
    """Issue 24, failure 8: with the -shm file made immutable mid-run the training died of
    SIGBUS. The store is written from a child process: the child may die, the training not."""
    db = tmp_path / "runs.db"
    url = f"sqlite:///{db}"
    open_store(url).dispose()
    script = tmp_path / "train.py"
    script.write_text(SHM_TRAIN)
    env = {**os.environ, "DB": url, "COSTLENS_FLUSH_INTERVAL_S": "0.1", "COSTLENS_QUIET": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout.readline().strip() == b"ready"
    shm = Path(f"{db}-shm")
    how = _break_shm(shm)
    proc.stdin.write(b"go\n")
    proc.stdin.flush()
    out, err = proc.communicate(timeout=120)
    subprocess.run(["chattr", "-i", str(shm)], capture_output=True)
    assert proc.returncode == 0, (proc.returncode, err.decode()[-3000:])  # was -7 (SIGBUS)
    run_id = out.decode().split()[-1]
    assert b"store writer process stopped" in err and b"SIGBUS" in err, err.decode()[-3000:]
    _sync(cli, url)
    with open_store(url) as store:
        rec = get_run(store, run_id)
        assert rec["status"] == "completed" and rec["steps"] == 60
        report(f"SQLite -shm file {how} mid-run", 120, rec["samples"])
