"""Shared fixtures: real SQLite files, a real PostgreSQL database per test session, the CLI.

PostgreSQL and browser tests skip with a reason on a developer machine without the server or
chromium, and fail in CI (``CI`` set), where both must be present.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "COSTLENS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CHROMIUM = os.environ.get("COSTLENS_TEST_CHROMIUM", "/usr/bin/chromium")
IN_CI = bool(os.environ.get("CI"))
REPO = Path(__file__).resolve().parent.parent


def missing(reason: str) -> None:
    """Skip here, fail in CI: CI must run every test against real services."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must run this test)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the user's ~/.costlens: every test gets its own COSTLENS_HOME."""
    home = tmp_path_factory.mktemp("costlens_home")
    monkeypatch.setenv("COSTLENS_HOME", str(home))
    monkeypatch.delenv("COSTLENS_DB", raising=False)
    yield home


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture
def store(sqlite_url: str):
    from costlens.store import open_store

    s = open_store(sqlite_url)
    yield s
    s.dispose()


def _pg_admin():
    try:
        import psycopg
    except ImportError:
        missing("psycopg is not installed (pip install 'costlens[dev]')")
    dsn = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except Exception as exc:
        missing(f"no PostgreSQL server at {PG_ADMIN_URL}: {str(exc).splitlines()[0]}")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    admin = _pg_admin()
    name = f"costlens_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def pg_store(pg_url: str):
    """The session's PostgreSQL store, emptied before each test."""
    from sqlalchemy import text

    from costlens.store import open_store

    s = open_store(pg_url)
    with s.engine.begin() as conn:
        conn.execute(text("TRUNCATE samples, run_ranks, runs"))
    yield s
    s.dispose()


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: str | None = None, timeout: float = 120
) -> CliResult:
    """Run the real ``costlens`` command in a subprocess (as a user would)."""
    proc = subprocess.run(
        [sys.executable, "-m", "costlens", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        missing(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM
