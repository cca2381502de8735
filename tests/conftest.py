"""Shared fixtures: real SQLite files, a real PostgreSQL database per test session, the CLI.

PostgreSQL and browser tests skip with a reason on a developer machine without the server or
chromium, and fail in CI (``CI`` set), where both must be present.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "COSTLENS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CHROMIUM = os.environ.get("COSTLENS_TEST_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"


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
    # Never a packet to a cloud metadata service: no DMI strings (an empty folder) and, should a
    # test name a cloud's DMI, a metadata endpoint on loopback where nothing listens.
    dmi = home / "no-dmi"
    dmi.mkdir()
    monkeypatch.setenv("COSTLENS_DMI_ROOT", str(dmi))
    monkeypatch.setenv("COSTLENS_METADATA_URL", "http://127.0.0.1:9")
    yield home


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runs.db'}"


@pytest.fixture
def store(sqlite_url: str):
    from costlens.store import open_store

    with open_store(sqlite_url) as s:
        yield s


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


def create_database(admin, name: str, *, tries: int = 20) -> None:
    """``CREATE DATABASE`` that waits out a concurrent one: PostgreSQL refuses to copy the
    template while another session (another test worker's CREATE DATABASE) is using it."""
    import time

    import psycopg

    for attempt in range(tries):
        try:
            admin.execute(f'CREATE DATABASE "{name}"')
            return
        except psycopg.errors.ObjectInUse:
            if attempt == tries - 1:
                raise
            time.sleep(0.25)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    admin = _pg_admin()
    name = f"costlens_test_{uuid.uuid4().hex[:10]}"
    create_database(admin, name)
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

    with open_store(pg_url) as s:
        with s.engine.begin() as conn:
            conn.execute(text("TRUNCATE samples, run_ranks, runs"))
        yield s


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request):
    """The test runs twice: on a real SQLite file and on the real PostgreSQL server."""
    if request.param == "sqlite":
        return request.getfixturevalue("store")
    return request.getfixturevalue("pg_store")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


class _Capture(io.TextIOWrapper):
    """A text stream like a pipe's: not a terminal, with a ``.buffer``, read back at the end."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", errors="backslashreplace", newline="\n")

    def isatty(self) -> bool:
        return False

    def text(self) -> str:
        self.flush()
        return self.buffer.getvalue().decode("utf-8", "replace")


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _owned_by_the_command(finder: object) -> bool:
    """A finder that the command (costlens's import hooks) or the user's script (a class of
    ``__main__``, or of a module no longer imported) put in ``sys.meta_path``."""
    module = getattr(finder, "__module__", None) or ""
    return module == "__main__" or module not in sys.modules or module.split(".")[0] == "costlens"


def _meta_path_after(saved: list) -> list:
    """``sys.meta_path`` as a real process would leave the test process: the import hooks the
    command or its script added are gone (the process would have exited with them), and a
    finder a library put there when it was imported stays. The library stays in
    ``sys.modules``, so its import-time changes must stay too: the ``importlib_metadata``
    backport (imported by ``export mlflow``) appends its own distribution finder and deletes
    the standard ``PathFinder.find_distributions``; dropping its finder left no finder of
    package metadata, and every later ``importlib.metadata`` look-up in the worker failed."""
    now = sys.meta_path[:]
    kept = [f for f in now if any(f is s for s in saved) or not _owned_by_the_command(f)]
    for index, finder in enumerate(saved):  # a saved finder the command removed comes back
        if not any(f is finder for f in kept):
            kept.insert(min(index, len(kept)), finder)
    return kept


@contextmanager
def _process_state(env: dict[str, str] | None, cwd: str | None) -> Iterator[None]:
    """What a ``costlens`` process owns, put back afterwards: environment, working directory,
    argv, sys.path, its import hooks (:func:`_meta_path_after`), ``__main__``, signal handlers
    and the ``costlens`` logger."""
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_argv, saved_path, saved_meta = sys.argv[:], sys.path[:], sys.meta_path[:]
    saved_main = sys.modules.get("__main__")
    saved_signals = {s: signal.getsignal(s) for s in _SIGNALS}
    logger = logging.getLogger("costlens")
    saved_log = (logger.handlers[:], logger.level, logger.propagate)
    os.environ.update(env or {})
    try:
        if cwd is not None:
            os.chdir(cwd)
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv[:], sys.path[:] = saved_argv, saved_path
        sys.meta_path[:] = _meta_path_after(saved_meta)
        if saved_main is not None:
            sys.modules["__main__"] = saved_main
        for sig, handler in saved_signals.items():
            signal.signal(sig, handler)
        logger.handlers[:], logger.level, logger.propagate = saved_log


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: str | None = None, timeout: float = 120
) -> CliResult:
    """Run ``costlens ARGS`` in this process through :func:`costlens.cli.main`, as the console
    script does: same exit code, stdout and stderr (an escaping exception is printed as Python
    would, exit 1). ``timeout`` is for :func:`run_cli_subprocess`'s signature; pytest-timeout
    guards in-process runs. For what only a real process shows (signals, child processes writing
    to the terminal, the interpreter's own start-up), use :func:`run_cli_subprocess`.
    """
    from costlens.cli import main

    out, err = _Capture(), _Capture()
    code = 0
    with _process_state(env, cwd):
        saved_streams = sys.stdin, sys.stdout, sys.stderr
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(""), out, err
        try:
            sys.argv = ["costlens", *args]
            main(list(args))
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                code = exc.code or 0
            else:  # sys.exit("message"): Python prints it and exits 1
                err.write(f"{exc.code}\n")
                code = 1
        except BaseException:  # what the interpreter does with an uncaught exception
            err.write(traceback.format_exc())
            code = 1
        finally:
            sys.stdin, sys.stdout, sys.stderr = saved_streams
    return CliResult(code, out.text(), err.text())


def run_cli_subprocess(
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
    """``costlens`` in this process (fast); see :func:`run_cli`."""
    return run_cli


@pytest.fixture
def cli_subprocess():
    """The real ``costlens`` command in a child process: for the few tests that need one."""
    return run_cli_subprocess


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        missing(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM
