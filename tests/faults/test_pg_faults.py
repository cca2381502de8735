"""PostgreSQL faults mid-run: tables locked by another session, connections terminated, the
database dropped, and a server that accepts connections and never answers."""

from __future__ import annotations

import socket
import threading

import psycopg
import pytest

from costlens.record import journal_files
from costlens.store import open_store
from tests.conftest import create_database
from tests.faults.conftest import assert_all_kept, largest_gap_s, profiled, report, told


def _sync(cli, url: str, *extra: str):
    res = cli("sync", "--db", url, *extra)
    assert res.code == 0, res.err
    return res


def test_locked_tables_never_stop_sampling_and_the_end_waits_2s(scratch_pg, cli):
    url, _admin, _name = scratch_pg
    open_store(url).dispose()
    locker = psycopg.connect(url)  # a transaction holding ACCESS EXCLUSIVE on every table
    out = profiled(
        url,
        lambda: locker.execute("LOCK TABLE samples, run_ranks, runs IN ACCESS EXCLUSIVE MODE"),
    )
    try:
        assert out.end_s < 2.6, f"the end waited {out.end_s:.1f} s for a hung store"
        told(out)
        assert journal_files.pending_files()
    finally:
        locker.rollback()
        locker.close()
    _sync(cli, url)
    store = open_store(url)
    assert_all_kept("PostgreSQL tables locked (ACCESS EXCLUSIVE)", store, out)
    assert largest_gap_s(store, out.run.id) < 0.45  # less than a write timeout: never waited


def test_terminated_connections(scratch_pg, cli):
    url, admin, name = scratch_pg
    open_store(url).dispose()

    def terminate() -> None:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )

    out = profiled(url, terminate)
    cli("sync", "--db", url)  # nothing, or what a failed write left
    assert_all_kept("PostgreSQL connections terminated", open_store(url), out)


def test_dropped_database(scratch_pg, cli):
    url, admin, name = scratch_pg
    open_store(url).dispose()
    out = profiled(url, lambda: admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)'))
    told(out)
    assert out.end_s < 2.6
    create_database(admin, name)  # the server is back, with an empty database
    refused = cli("sync", "--db", url)
    assert refused.code == 1 and "--create" in refused.err
    _sync(cli, url, "--create")
    assert_all_kept("PostgreSQL database dropped", open_store(url), out)


@pytest.fixture
def silent_server():
    """A local socket that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"postgresql://costlens@127.0.0.1:{srv.getsockname()[1]}/costlens"
    stop.set()
    thread.join(2)
    for s in held:
        s.close()
    srv.close()


def test_server_that_never_answers(silent_server, sqlite_url, cli):
    out = profiled(silent_server)
    assert out.end_s < 3.0, f"the end waited {out.end_s:.1f} s for a silent server"
    assert "store unreachable" in out.err and "could not be opened" in out.err
    res = cli("sync", "--into", sqlite_url, "--create")  # into whichever store answers, if told
    assert res.code == 0, res.err
    assert_all_kept("PostgreSQL server accepts and never answers", open_store(sqlite_url), out)


def test_connections_terminated_every_0_3_s_need_no_sync(scratch_pg):
    """Issue 24: backends terminated every 0.3 s left 104 of 129 samples in the store and the
    rest for `sync`, where the docs say none is needed. The last write is retried until the end's
    2 s are spent, so the store holds the whole run and no journal is left."""
    url, admin, name = scratch_pg
    open_store(url).dispose()
    stop = threading.Event()

    def terminator() -> None:
        while not stop.wait(0.3):
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )

    killer = threading.Thread(target=terminator, daemon=True)
    killer.start()
    try:
        out = profiled(url)
    finally:
        stop.set()
        killer.join()
    from costlens.store.queries import count_samples

    kept = count_samples(open_store(url), out.run.id)
    report("PostgreSQL backends terminated every 0.3 s, no sync", out.taken, kept)
    assert not journal_files.pending_files(), out.err  # nothing left for `sync`
    assert_all_kept("PostgreSQL backends terminated every 0.3 s", open_store(url), out)
