"""What a store URL points at, found without writing to it: a costlens store (current or older),
nothing yet, or something else (another application's tables, a foreign schema version).

Reading commands open only a current costlens store; commands that record runs (and
``costlens db upgrade``) create an empty one or upgrade an older one; nothing ever touches a file
or database that is not a costlens store. A SQLite file is classified through a read-only
connection (``mode=ro``), so not even the WAL switch is written to a foreign file.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect, text

from costlens.core.errors import StoreError, StoreUnreachableError

MISSING = "missing"  # no SQLite file (or path) yet
EMPTY = "empty"  # a file or database with no tables at all
CURRENT = "current"  # a costlens store at this costlens's schema head
OLDER = "older"  # a costlens store at an older revision: `costlens db upgrade`
FOREIGN = "foreign"  # tables without a costlens revision, or a revision costlens does not know


@dataclass(frozen=True)
class StoreKind:
    """What is at a store URL: ``kind`` (one of the constants above), its revision and tables."""

    kind: str
    revision: str | None = None
    tables: tuple[str, ...] = ()


@functools.cache
def known_revisions() -> tuple[str, ...]:
    """Every schema revision this costlens ships, oldest first."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    revs = [r.revision for r in ScriptDirectory.from_config(cfg).walk_revisions()]
    return tuple(reversed(revs))


# The tables a costlens schema has (a store being created holds some of them and an unstamped
# alembic_version while another process migrates it under the migration lock).
COSTLENS_TABLES = frozenset({"alembic_version", "runs", "run_ranks", "samples"})


def _classify(tables: list[str], revision: str | None) -> StoreKind:
    names = tuple(sorted(t for t in tables if not t.startswith("sqlite_")))
    if "alembic_version" not in names:
        return StoreKind(EMPTY if not names else FOREIGN, None, names)
    if revision is None and set(names) <= COSTLENS_TABLES:
        # Another process is creating this store right now: an opener that records runs waits
        # for it on the migration lock, then finds it current (EMPTY: creatable, not foreign).
        return StoreKind(EMPTY, None, names)
    known = known_revisions()
    if revision not in known:
        return StoreKind(FOREIGN, revision, names)
    return StoreKind(CURRENT if revision == known[-1] else OLDER, revision, names)


def sqlite_kind(path: str) -> StoreKind:
    """Classify a SQLite file through a read-only connection (never creates or changes it)."""
    if not os.path.exists(path):
        return StoreKind(MISSING)
    if os.path.getsize(path) == 0:
        return StoreKind(EMPTY)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise StoreUnreachableError(f"cannot open store {path}: {exc}") from exc
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        revision = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{path} is not a costlens database (the file is corrupt or of another kind): "
            "move it aside or pass another --db."
        ) from exc
    finally:
        conn.close()
    return _classify(tables, revision)


def engine_kind(engine: Engine) -> StoreKind:
    """Classify the database behind ``engine`` with reads only."""
    with engine.connect() as conn:
        tables = inspect(conn).get_table_names()
        revision = None
        if "alembic_version" in tables:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return _classify(tables, revision)


def refuse_foreign(where: str, found: StoreKind) -> None:
    """Raise for a file or database that is not a costlens store, naming it."""
    if found.kind != FOREIGN:
        return
    if found.revision is not None:
        what = (
            f"its schema revision {found.revision!r} is not one this costlens knows "
            "(another application's, or a newer costlens's)"
        )
    else:
        shown = ", ".join(found.tables[:5]) + (", ..." if len(found.tables) > 5 else "")
        what = f"it holds other tables ({shown}) and no costlens schema version"
    raise StoreError(
        f"{where} is not a costlens store: {what}. costlens leaves it untouched; "
        "pass another --db (a new file is created when a run is recorded)."
    )


def require_current(where: str, found: StoreKind) -> None:
    """Raise unless ``found`` is a current costlens store (what reading commands need)."""
    refuse_foreign(where, found)
    if found.kind == MISSING:
        raise StoreUnreachableError(
            f"no store at {where}: check --db or COSTLENS_DB. A store is created when a run is "
            "recorded there (`costlens run`, `costlens.profile`, `costlens demo`), or by "
            "`costlens db upgrade --db ...`."
        )
    if found.kind == EMPTY:
        raise StoreUnreachableError(
            f"store {where} is empty (no runs recorded yet): record a run there, or create the "
            "schema with `costlens db upgrade --db ...`."
        )
    if found.kind == OLDER:
        raise StoreError(
            f"store {where} was made by an older costlens (schema {found.revision}, this costlens "
            f"reads {known_revisions()[-1]}): run `costlens db upgrade --db ...` to upgrade it "
            "(every run is kept). Recording a run there upgrades it too."
        )


def kind_of(store) -> StoreKind:
    """Classify an open :class:`~costlens.store.db.Store` (SQLite through a read-only file)."""
    if store.engine.dialect.name == "sqlite":
        path = store.engine.url.database
        if path and path != ":memory:":
            return sqlite_kind(path)
    return engine_kind(store.engine)
