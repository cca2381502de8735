"""Fault injection: a real profiled run, a real fault (a deleted file, a full disk, a locked
table, a dropped database, a server that never answers...), then `costlens sync`, then what the
store holds: every sample the run took, its steps and its status, and what the user was told.

Intervals are short (samples every 20 ms, flushes every 100 ms, writes time out after 0.5 s) so
the whole suite stays within about a minute on two cores. With ``COSTLENS_FAULT_REPORT=PATH``
each case appends one JSON line (fault, samples expected, samples kept) to PATH: the figures of
docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import costlens
from costlens.record import journal_files
from costlens.store.queries import count_samples, get_run
from tests.conftest import PG_ADMIN_URL, _pg_admin, create_database

SAMPLE_S = 0.02
STEPS = 30
STEP_S = 0.02


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    from costlens.record import writer

    monkeypatch.setenv("COSTLENS_FLUSH_INTERVAL_S", "0.1")
    monkeypatch.delenv("COSTLENS_QUIET", raising=False)
    monkeypatch.setattr(writer, "WRITE_TIMEOUT_S", 0.5)


@dataclass
class Outcome:
    run: object
    taken: int  # samples the run took: what the store must hold in the end
    end_s: float  # how long the end of the run took (the training's exit delay)
    err: str  # what the user saw on stderr (summary and warnings)


def profiled(
    db: str, fault: Callable[[], None] | None = None, *, at: int = 10, steps: int = STEPS
) -> Outcome:
    """A real in-process profiled run of ``steps`` steps (2 samples each); ``fault()`` runs at
    step ``at``. Warnings and the summary are captured from the ``costlens`` logger and stderr."""
    import io
    import logging
    import sys

    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    logger = logging.getLogger("costlens")
    logger.addHandler(handler)
    saved_err, sys.stderr = sys.stderr, buf
    try:
        with costlens.profile(project="faults", db=db, sample_interval_s=SAMPLE_S) as run:
            for i in range(steps):
                run.step(samples=2)
                if fault is not None and i == at:
                    _wait_first_open(run)
                    fault()
                time.sleep(STEP_S)
            t0 = time.monotonic()
        end_s = time.monotonic() - t0
    finally:
        sys.stderr = saved_err
        logger.removeHandler(handler)
    return Outcome(run, run._recorder.samples_taken, end_s, buf.getvalue())


def _wait_first_open(run, timeout_s: float = 20.0) -> None:
    """The fault strikes a run whose store writer has made its first try (the writer starts a
    child process for a SQLite store: on a loaded machine that takes a moment)."""
    deadline = time.monotonic() + timeout_s
    while run._recorder._writer.opening and time.monotonic() < deadline:
        time.sleep(0.01)


def report(fault: str, expected: int, kept: int) -> None:
    path = os.environ.get("COSTLENS_FAULT_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"fault": fault, "expected": expected, "kept": kept}) + "\n")


def assert_all_kept(
    fault: str, store, out: Outcome, status: str = "completed", steps: int = STEPS
) -> None:
    """After sync: every sample taken, every step and the status are in ``store``."""
    kept = count_samples(store, out.run.id)
    report(fault, out.taken, kept)
    rec = get_run(store, out.run.id)
    assert out.taken > 0
    assert kept == out.taken, f"{fault}: {out.taken} samples taken, {kept} kept"
    assert rec["status"] == status and rec["steps"] == steps and rec["samples"] == 2 * steps
    assert not journal_files.pending_files(), "sync leaves no journal behind"


def told(out: Outcome) -> None:
    """The user was told: once when the store failed, and at the end where the run is kept."""
    assert "the local journal (" in out.err  # the warning, with the store's own error
    assert "kept in the local journal" in out.err and "costlens sync" in out.err


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "2m") -> Iterator[bool]:
    """A small tmpfs at ``path`` (True), or a plain folder where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    ok = proc.returncode == 0
    if not ok:
        print(f"no tmpfs at {path} ({proc.stderr.strip()}): the fault is simulated")
    try:
        yield ok
    finally:
        if ok:
            subprocess.run(["mount", "-o", "remount,rw", str(path)], capture_output=True)
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def scratch_pg() -> Iterator[tuple[str, object]]:
    """A PostgreSQL database of its own (it may be dropped or locked), and an admin session."""
    admin = _pg_admin()
    name = f"costlens_fault_{uuid.uuid4().hex[:10]}"
    create_database(admin, name)
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}", admin, name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def largest_gap_s(store, run_id: str) -> float:
    """The longest wait between two consecutive samples of a run (seconds)."""
    from sqlalchemy import text

    with store.engine.connect() as conn:
        times = [
            r[0]
            for r in conn.execute(
                text("SELECT t_unix_s FROM samples WHERE run_id = :r ORDER BY t_unix_s"),
                {"r": run_id},
            )
        ]
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)
