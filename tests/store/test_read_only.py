"""Reading never writes: reading commands never create, migrate or change a store, and nothing
touches a SQLite file or database that is not a costlens store (`db upgrade` included)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from costlens.store import open_store

REPO = Path(__file__).resolve().parents[2]
PLAN = str(REPO / "data" / "example_plan.csv")

# every reading command, with what it needs besides --db
READERS = (
    ("runs",),
    ("show", "abc"),
    ("cost", "abc"),
    ("estimate", "--from-run", "abc"),
    ("fit",),
    ("forecast", PLAN, "--sims", "1000"),
    ("dashboard",),  # refused before it serves
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _other_app(path: Path, *, runs_table: bool = False, revision: str | None = None) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO accounts (name) VALUES ('alice')")
    if runs_table:
        conn.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, what TEXT)")
    if revision:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    conn.commit()
    conn.close()
    return path


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


@pytest.mark.parametrize(
    "kind",
    [{}, {"runs_table": True}, {"revision": "9f3e2a1b"}],
    ids=["other-tables", "other-runs-table", "foreign-revision"],
)
def test_a_foreign_sqlite_file_is_refused_untouched_by_every_command(tmp_path, cli, kind):
    path = _other_app(tmp_path / "app.db", **kind)
    before, tables = _digest(path), _tables(path)
    url = f"sqlite:///{path}"
    for args in (*READERS, ("db", "upgrade"), ("sync",)):
        res = cli(*args, "--db", url)
        if args == ("sync",):  # nothing to sync: it does not even open the store
            assert res.code == 0 and "nothing to sync" in res.out
            continue
        assert res.code == 1, (args, res.out, res.err)
        assert "is not a costlens store" in res.err and str(path) in res.err, (args, res.err)
        assert "costlens bug" not in res.err
    assert _digest(path) == before and _tables(path) == tables
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_a_recording_run_refuses_a_foreign_file_and_keeps_the_run(tmp_path, cli):
    import costlens
    from costlens.record import journal_files

    path = _other_app(tmp_path / "app.db")
    before = _digest(path)
    with costlens.profile(db=f"sqlite:///{path}", sample_interval_s=0.02) as run:
        run.step()
    assert _digest(path) == before
    assert journal_files.pending_files() and "kept in the local journal" in run._recorder.store_note


def test_an_older_store_is_told_to_upgrade_and_left_as_it_is(tmp_path, cli):
    from costlens.store import db as dbmod

    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    with open_store(url, "inspect") as store:
        dbmod.upgrade(store.engine, "0003")
    before = _digest(path)
    for args in READERS:
        res = cli(*args, "--db", url)
        assert res.code == 1 and "costlens db upgrade" in res.err, (args, res.err)
    assert _digest(path) == before
    res = cli("db", "upgrade", "--db", url)
    assert res.code == 0 and f"0003 -> {dbmod.head_revision()}" in res.err
    assert cli("runs", "--db", url).code == 0


def test_no_reading_command_creates_a_store(tmp_path, cli, _isolated_home):
    missing = tmp_path / "typo.db"
    for args in READERS:
        res = cli(*args, "--db", f"sqlite:///{missing}")
        assert res.code == 1 and "no store at" in res.err, (args, res.err)
        assert not missing.exists()
    res = cli("runs")  # the default store, never recorded into: an empty list, no file
    assert res.code == 0 and "No runs recorded yet" in res.out
    assert not (_isolated_home / "costlens.db").exists()


def test_a_foreign_postgresql_database_is_refused(pg_url, cli):
    import uuid

    import psycopg

    from tests.conftest import _pg_admin, create_database

    admin = _pg_admin()
    name = f"costlens_foreign_{uuid.uuid4().hex[:8]}"
    create_database(admin, name)
    url = f"{pg_url.rsplit('/', 1)[0]}/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE accounts (id int)")
        for args in (("runs",), ("db", "upgrade")):
            res = cli(*args, "--db", url)
            assert res.code == 1 and "is not a costlens store" in res.err, res.err
        with psycopg.connect(url) as conn:
            tables = {
                r[0]
                for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            }
        assert tables == {"accounts"}
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.parametrize(
    ("tables", "stamped", "kind"),
    [
        (["alembic_version"], False, "empty"),  # another process is creating the store now
        (["alembic_version", "runs", "samples"], False, "empty"),  # ... halfway through
        (["alembic_version", "orders"], False, "foreign"),  # someone else's tables
        (["runs"], False, "foreign"),  # a "runs" table of another application
    ],
)
def test_a_store_being_created_is_not_taken_for_a_foreign_one(tmp_path, tables, stamped, kind):
    """Four processes opening one new SQLite file: one migrates under the lock while another
    classifies the file. An unstamped alembic_version beside costlens tables only is a store
    being created (the opener waits on the migration lock), never a foreign file."""
    from costlens.store.schema import sqlite_kind

    path = tmp_path / "shared.db"
    conn = sqlite3.connect(path)
    for name in tables:
        cols = "version_num VARCHAR(32) NOT NULL" if name == "alembic_version" else "id INTEGER"
        conn.execute(f"CREATE TABLE {name} ({cols})")
    conn.commit()
    conn.close()
    assert sqlite_kind(str(path)).kind == kind
    if tables == ["alembic_version"]:  # and a recording open then makes it a current store
        open_store(f"sqlite:///{path}").dispose()
        assert sqlite_kind(str(path)).kind == "current"
