"""SQLite faults mid-run: the file deleted, its folder removed, made read-only, the disk full."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from costlens.record import journal
from costlens.store import open_store
from costlens.store.queries import count_samples
from tests.faults.conftest import assert_all_kept, profiled, tmpfs, told


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
    assert not db.exists() and journal.pending_files()
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
    """The disk under the SQLite file fills up mid-run (a 1 MiB tmpfs, else simulated ENOSPC);
    the journal, on another disk, keeps the run."""
    mnt = tmp_path / "mnt"
    with tmpfs(mnt, size="1m") as mounted, pytest.MonkeyPatch.context() as mp:
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
    """Make every later store write fail as SQLite does (where no mount is possible)."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from costlens.store import ingest

    def failing(*_a, **_k):
        raise OperationalError("INSERT", {}, sqlite3.OperationalError(message))

    def fault() -> None:
        for name in ("insert_samples", "update_run", "upsert_rank", "insert_run"):
            mp.setattr(ingest, name, failing)

    return fault
