"""Engine factory, schema versions and the :class:`Store` handle.

SQLite runs in WAL mode with a busy timeout so several processes (ranks, a dashboard, the CLI)
can read and write at once. The schema is versioned by Alembic; opening a store created by an
older costlens upgrades it in place (under a lock), so recorded runs are never lost.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)

from costlens.core import config
from costlens.core.errors import StoreError, StoreUnreachableError
from costlens.store.url import check_store_url, mask_url, redact, resolve_db_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant key for PostgreSQL's advisory lock around migrations.
_PG_MIGRATION_LOCK = 0x636F73746C656E73  # "costlens"


def _sqlite_pragmas(busy_timeout_ms: int):
    def on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    return on_connect


def make_engine(url: str | None = None, *, write_timeout_s: float | None = None) -> Engine:
    """A SQLAlchemy engine for ``url`` (resolved through :func:`resolve_db_url`).

    ``write_timeout_s`` (the recorder's writer): a statement or lock wait longer than this fails
    instead of hanging (PostgreSQL ``statement_timeout`` and ``lock_timeout``, SQLite's busy
    timeout), so its rows go to the journal; the connect timeout is then this long too.
    """
    url = resolve_db_url(url)
    busy_ms = SQLITE_BUSY_TIMEOUT_MS if write_timeout_s is None else int(write_timeout_s * 1000)
    if not url.startswith(("sqlite", "postgresql")):
        raise StoreUnreachableError(
            f"unsupported store URL {mask_url(url)}: costlens stores runs in SQLite "
            "(sqlite:///PATH) or PostgreSQL (postgresql://USER@HOST/DB)."
        )
    try:
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[-1]
            if path and path != ":memory:":
                parent = Path(path).parent
                if not parent.is_dir():
                    raise StoreUnreachableError(
                        f"cannot open store {mask_url(url)}: folder {parent} does not exist. "
                        "Create it or pass another --db."
                    )
            engine = create_engine(
                url,
                connect_args={"timeout": busy_ms / 1000, "check_same_thread": False},
            )
            event.listen(engine, "connect", _sqlite_pragmas(busy_ms))
        else:
            connect_args = {"connect_timeout": 5} if url.startswith("postgresql") else {}
            if url.startswith("postgresql"):
                # costlens's reads are index seeks and per-run aggregates: PostgreSQL's JIT spends
                # more compiling them than it saves (373 ms of a 539 ms timeline read, measured
                # on 10M samples; BENCHMARKS.md, dashboard load on PostgreSQL).
                connect_args["options"] = "-c jit=off"
                if write_timeout_s is not None:  # a server that never answers: 2 s (libpq's least)
                    connect_args["connect_timeout"] = 2
                    connect_args["options"] += (
                        f" -c statement_timeout={busy_ms} -c lock_timeout={busy_ms}"
                    )
            engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except NoSuchModuleError as exc:
        raise StoreUnreachableError(
            f"unsupported store URL {mask_url(url)}: costlens stores runs in SQLite "
            "(sqlite:///PATH) or PostgreSQL (postgresql://USER@HOST/DB, with "
            "`pip install 'costlens[postgres]'`)."
        ) from exc
    except ModuleNotFoundError as exc:
        raise StoreUnreachableError(
            f"the driver for {mask_url(url)} is not installed ({exc.name}): "
            "run `pip install 'costlens[postgres]'`."
        ) from exc
    return engine


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Serialise schema creation/upgrade between processes."""
    if engine.dialect.name == "sqlite":
        db_path = engine.url.database
        if not db_path or db_path == ":memory:":
            yield
            return
        import fcntl

        with open(f"{db_path}.lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    elif engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK})
                conn.commit()
    else:
        yield


def _alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


_REVISION_LINE = re.compile(
    r"^(down_revision|revision)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|None)", re.M
)


def _head_from_files() -> str | None:
    """The single head of the migration files' ``revision`` / ``down_revision`` lines (None when
    they are not a plain chain). Reading them costs about a millisecond; Alembic ~0.4 s of CPU."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = {m[1]: m[2] or m[3] for m in _REVISION_LINE.finditer(path.read_text())}
        if found.get("revision"):
            revisions.add(found["revision"])
            if found.get("down_revision"):
                downs.add(found["down_revision"])
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


@functools.lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest schema revision this costlens knows."""
    head = _head_from_files()
    if head is not None:
        return head
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()  # type: ignore[arg-type]


def current_revision(engine: Engine) -> str | None:
    """The store's schema revision, or None for an empty store."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Create or upgrade the schema; returns (revision before, revision after)."""
    from alembic import command

    with _migration_lock(engine):
        before = current_revision(engine)
        command.upgrade(_alembic_config(engine), revision)
        return before, current_revision(engine) or ""


def _is_sqlite_file_corrupt(exc: BaseException) -> bool:
    msg = str(exc).lower()
    return "file is not a database" in msg or "malformed" in msg


class OpenMode(str, Enum):
    """How :func:`open_store` treats what it finds at the URL (the one choice a caller makes).

    - ``READ`` (commands and views that only read): a current costlens store must be there;
      nothing is created, migrated or changed (an older store is told to run
      ``costlens db upgrade``; a missing file is refused by :func:`require_existing` callers).
    - ``WRITE`` (whatever records runs: the recorder's writer, ``sync``, the demo): a missing or
      empty store is created and an older one upgraded in place, under a lock.
    - ``INSPECT`` (``db info``, ``db upgrade``, which check the store themselves): whatever is
      there opens, unchecked and unchanged.

    READ and WRITE refuse a file or database that is not a costlens store, untouched.
    """

    READ = "read"
    WRITE = "write"
    INSPECT = "inspect"


@dataclass
class Store:
    """An open run store: an engine and the (masked) URL it came from.

    A context manager: ``with open_store(url, OpenMode.READ) as store:`` disposes of the engine
    (its pooled connections) when the block ends, also on an error.
    """

    engine: Engine
    url: str
    upgraded_from: str | None = field(default=None)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.dispose()

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()


def _unreachable(url: str, exc: BaseException) -> StoreError:
    masked = mask_url(url)
    if _is_sqlite_file_corrupt(exc):
        return StoreError(
            f"store {masked} is not a costlens database (the file is corrupt or of another kind). "
            "Move it aside or pass another --db."
        )
    detail = redact(str(getattr(exc, "orig", exc) or exc), url).strip().splitlines()
    reason = detail[0] if detail else type(exc).__name__
    return StoreUnreachableError(
        f"cannot reach store {masked}: {reason}. Check that the server is running and the URL "
        "(--db or COSTLENS_DB) is right."
    )


def require_existing(url: str | None) -> None:
    """Refuse a SQLite file that does not exist when the URL was given (``--db``/``$COSTLENS_DB``):
    reading commands must not create an empty store from a typo."""
    explicit = url or config.DB.get()
    if not explicit:
        return
    resolved = resolve_db_url(explicit)
    if not resolved.startswith("sqlite"):
        return
    check_store_url(resolved)
    path = resolved.split(":///", 1)[-1]
    if not os.path.exists(path):
        raise StoreUnreachableError(
            f"no store at {path}: check --db or COSTLENS_DB. A store is created when a run is "
            "recorded there, or by `costlens db upgrade --db ...`."
        )


def _sqlite_file(url: str) -> str | None:
    """The file a SQLite URL names (None for other dialects and ``:memory:``)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[-1]
    return path if path and path != ":memory:" else None


def open_store(
    url: str | None = None,
    mode: OpenMode | str = OpenMode.WRITE,
    *,
    write_timeout_s: float | None = None,
) -> Store:
    """Open the store at ``url`` as ``mode`` says (:class:`OpenMode`: ``READ``, ``WRITE``, the
    default, or ``INSPECT``); use it as ``with open_store(url, mode) as store:``.

    ``write_timeout_s`` (the recorder's writer): see :func:`make_engine`.
    """
    from costlens.store import schema

    mode = OpenMode(mode)
    checked = mode is not OpenMode.INSPECT
    check = schema.require_current if mode is OpenMode.READ else schema.refuse_foreign
    resolved = resolve_db_url(url)
    check_store_url(resolved)
    path = _sqlite_file(resolved)
    found = schema.sqlite_kind(path) if path else None
    if found is not None and checked:
        check(path or mask_url(resolved), found)
    try:
        engine = make_engine(resolved, write_timeout_s=write_timeout_s)
    except ArgumentError as exc:
        raise StoreUnreachableError(
            f"malformed store URL {mask_url(resolved)}: use sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DB."
        ) from exc
    store = Store(engine=engine, url=resolved)
    try:
        if found is None and checked:
            found = schema.engine_kind(engine)
            check(mask_url(resolved), found)
        elif not checked and path is None:  # INSPECT a server: one that is down is said here
            with engine.connect():
                pass
        if mode is OpenMode.WRITE and found is not None and found.kind != schema.CURRENT:
            store.upgraded_from = found.revision
            upgrade(engine)
    except (OperationalError, DBAPIError, sqlite3.DatabaseError) as exc:
        engine.dispose()
        raise _unreachable(resolved, exc) from exc
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(
            f"store {mask_url(resolved)} failed: {redact(str(exc), resolved)}"
        ) from exc
    except OSError as exc:
        engine.dispose()
        raise StoreUnreachableError(
            f"cannot open store {mask_url(resolved)}: {redact(str(exc), resolved)}"
        ) from exc
    except BaseException:
        engine.dispose()
        raise
    return store


def kind_at(url: str | None):
    """What is at ``url`` (a :class:`~costlens.store.schema.StoreKind`), found with reads only;
    a server that cannot be reached raises :class:`StoreUnreachableError`."""
    from costlens.store import schema

    resolved = resolve_db_url(url)
    check_store_url(resolved)
    path = _sqlite_file(resolved)
    if path:
        return schema.sqlite_kind(path)
    engine = make_engine(resolved, write_timeout_s=5.0)
    try:
        return schema.engine_kind(engine)
    except (OperationalError, DBAPIError) as exc:
        raise _unreachable(resolved, exc) from exc
    finally:
        engine.dispose()


def sqlite_path(store: Store) -> str | None:
    """The SQLite file behind a store, or None for other dialects."""
    if store.dialect != "sqlite":
        return None
    return store.engine.url.database


def file_size_bytes(store: Store) -> int | None:
    path = sqlite_path(store)
    if not path or not os.path.exists(path):
        return None
    return os.path.getsize(path)
