"""The offline journal: everything a run measured, kept on local disk until the store has it.

Append-only JSON lines under ``<home>/journal/``, one file per writing process, fsync'd on each
append. The recorder writes every batch here first (a write-ahead log of the whole run) and
removes the file when the run ends with the store holding all of it; otherwise the file stays.
:func:`replay_pending` replays closed journals into the store idempotently (runs are upserted,
samples and metric points replaced by their natural key, so a replay interrupted half-way and
run again writes every record once) and removes them. A journal still held by a live process (an
flock) is left alone. Every record is checked (:mod:`costlens.record.journal_records`) before it
is replayed; a file that is not valid UTF-8 JSON lines of costlens records is moved to
``journal/quarantine/`` with one warning saying what was lost, and no command fails because of
it. Every store access is a :mod:`costlens.store` function.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from costlens.core.paths import home_dir
from costlens.record.journal_records import DATETIME_KEYS, check_record

log = logging.getLogger("costlens")

SUFFIX = ".jsonl"
QUARANTINE = "quarantine"


def journal_dir(create: bool = False) -> Path:
    """``<home>/journal``."""
    path = home_dir(create=create) / "journal"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def _encode(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _decode(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for k in DATETIME_KEYS:
        if isinstance(out.get(k), str):
            out[k] = datetime.fromisoformat(out[k])
    return out


class Journal:
    """One process's journal file, opened on the first append and locked while open."""

    def __init__(self, run_id: str, rank: int = 0, header: Mapping[str, Any] | None = None):
        self.run_id = run_id
        self.rank = rank
        self.header = dict(header or {})  # the run row, written first so a file replays alone
        self.path: Path | None = None
        self._fh: Any = None
        self._lock = threading.Lock()  # the recorder's thread and its end-of-run fallback
        self.records = 0
        self.size = 0  # bytes of whole records written (fsync'd)
        self.sample_rows = 0  # sample rows in those records
        self.failed = False  # an append failed (disk full...): the file may miss records

    def _open(self) -> None:
        folder = journal_dir(create=True)
        name = f"{self.run_id}-r{self.rank}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        self.path = folder / name
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (held open on purpose)
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX)
        if self.header:
            self._write({"k": "run", "v": _encode(self.header), "owner": self.rank == 0})

    def _write(self, *records: Mapping[str, Any]) -> None:
        """Append whole lines and fsync once."""
        text = "".join(
            json.dumps(r, separators=(",", ":"), allow_nan=False) + "\n" for r in records
        )
        self._fh.write(text)
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.records += len(records)
        self.size += len(text.encode("utf-8"))

    @property
    def is_open(self) -> bool:
        return self._fh is not None

    def run(self, values: Mapping[str, Any], owner: bool = True) -> None:
        """A run row: inserted if missing; its columns updated when ``owner`` (rank 0)."""
        self.append({"k": "run", "v": _encode(values), "owner": owner})

    def samples(self, rows: Sequence[Sequence[Any]]) -> None:
        self.append({"k": "samples", "rows": [list(r) for r in rows]}, sample_rows=len(rows))

    def rank_progress(self, values: Mapping[str, Any]) -> None:
        """A rank's progress; on replay the run's counts become the sums over its ranks again."""
        self.append({"k": "rank", "v": _encode(values)})

    def update(self, run_id: str, values: Mapping[str, Any]) -> None:
        self.append({"k": "update", "run_id": run_id, "v": _encode(values)})

    def flush_batch(
        self,
        rows: Sequence[Sequence[Any]],
        rank_values: Mapping[str, Any],
        run_id: str,
        run_values: Mapping[str, Any],
        metrics: Mapping[str, Any] | None = None,
    ) -> None:
        """One recorder flush (samples, metric points, this rank's progress, the run's
        columns): one fsync."""
        records = [
            *([{"k": "samples", "rows": [list(r) for r in rows]}] if rows else []),
            *([{"k": "metrics", **metrics}] if metrics else []),
            {"k": "rank", "v": _encode(rank_values)},
            {"k": "update", "run_id": run_id, "v": _encode(run_values)},
        ]
        self.append(*records, sample_rows=len(rows))

    def append(self, *records: Mapping[str, Any], sample_rows: int = 0) -> None:
        with self._lock:
            try:
                if self._fh is None:
                    self._open()
                self._write(*records)
            except BaseException:
                self.failed = True
                raise
            self.sample_rows += sample_rows

    def mark(self) -> tuple[int, int]:
        """(bytes, sample rows) of the whole records written so far, read together."""
        with self._lock:
            return self.size, self.sample_rows

    def close(self) -> None:
        """Close (and unlock) the file; it is then replayable by anyone."""
        with self._lock:
            if self._fh is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
                    self._fh.close()
                self._fh = None

    def discard(self) -> None:
        """Remove the file: the store holds everything in it."""
        with self._lock:
            if self._fh is not None and self.path is not None:
                self.path.unlink(missing_ok=True)
        self.close()

    def replay_head(self, store: Any, size: int) -> int:
        """Replay this journal's first ``size`` bytes (whole records) into ``store``; the file
        stays (the recorder keeps the whole run in it until the run ends)."""
        if self.path is None or size <= 0:
            return 0
        with open(self.path, "rb") as fh:
            data = fh.read(size)
        return _replay_records(store, _parse(data, self.path).records)


class _Parsed:
    """A journal file's records and what could not be read of it."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.bad = 0  # lines that are not records (not counting a torn last line)
        self.torn = False  # the last line was cut short (SIGKILL mid-write): expected
        self.first_problem = ""


def _parse(data: bytes, path: Path) -> _Parsed:
    out = _Parsed()
    lines = data.split(b"\n")
    last = len(lines) - 1
    for i, raw in enumerate(lines):
        raw = raw.strip()
        if not raw:
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
            problem = check_record(rec)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            rec, problem = None, "not UTF-8 JSON"
        if problem is None:
            out.records.append(rec)
        elif i == last and not data.endswith(b"\n") and rec is None:
            out.torn = True
        else:
            out.bad += 1
            out.first_problem = out.first_problem or f"line {i + 1}: {problem}"
    return out


def _apply(store: Any, rec: Mapping[str, Any]) -> None:
    from costlens.store.ingest import (
        insert_run,
        replace_samples,
        update_run,
        update_run_facts,
        upsert_rank,
    )
    from costlens.store.progress import rank_sums, run_exists

    kind = rec.get("k")
    if kind == "run":
        values = _decode(rec["v"])
        run_id = values["id"]
        if not run_exists(store, run_id):
            insert_run(store, values)
        elif rec.get("owner"):  # facts only: progress and status come from later records
            update_run_facts(store, run_id, values)
    elif kind == "samples":
        replace_samples(store, rec["rows"])
    elif kind == "rank":
        values = _decode(rec["v"])
        upsert_rank(store, values)
        update_run(store, values["run_id"], rank_sums(values["run_id"]))
    elif kind == "update":
        update_run(store, rec["run_id"], _decode(rec["v"]))
    elif kind == "metrics":
        from costlens.store.series import apply_metric_ops

        apply_metric_ops(store, rec)


def _replay_records(store: Any, records: Sequence[Mapping[str, Any]]) -> int:
    """Apply records in order; a record the store refuses (a sample of a run that has no row,
    a value out of range) is skipped and counted. A store that fails raises (the file is kept)."""
    from sqlalchemy.exc import DataError, IntegrityError

    n = 0
    for rec in records:
        try:
            _apply(store, rec)
            n += 1
        except (IntegrityError, DataError) as exc:
            log.warning(
                "costlens: a journal record was refused by the store and skipped (%s)", exc.orig
            )
    return n


def quarantine_dir() -> Path:
    """``<home>/journal/quarantine``: journal files costlens could not read in full."""
    return journal_dir() / QUARANTINE


def _quarantine(path: Path, parsed: _Parsed) -> None:
    folder = quarantine_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / path.name
        os.replace(path, target)
    except OSError as exc:
        target = path
        log.warning("costlens: cannot move journal %s to quarantine (%s)", path, exc)
    kept = len(parsed.records)
    log.warning(
        "costlens: journal %s is damaged or not a costlens journal (%s): %d unreadable line%s "
        "lost, %d record%s replayed; the file is kept as %s",
        path.name,
        parsed.first_problem,
        parsed.bad,
        "" if parsed.bad == 1 else "s",
        kept,
        "" if kept == 1 else "s",
        target,
    )


def pending_files() -> list[Path]:
    """Journal files on disk, oldest first (empty when there is no journal folder)."""
    folder = journal_dir(create=False)
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.suffix == SUFFIX and p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def _held(fh: Any) -> bool:
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # a live run is writing it
        return True
    return False


def closed_files() -> list[Path]:
    """Journal files no live process holds: what `costlens sync` would write."""
    out = []
    with contextlib.suppress(OSError):
        for path in pending_files():
            try:
                with open(path, "rb") as fh:
                    if not _held(fh):
                        out.append(path)
            except OSError:
                continue
    return out


def pending_note() -> str | None:
    """One line about closed journals waiting for `costlens sync`, or None."""
    files = closed_files()
    if not files:
        return None
    n = len(files)
    return (
        f"costlens: {n} journal file{'s' if n != 1 else ''} of runs recorded while their store "
        f"was unreachable wait{'s' if n == 1 else ''} in {journal_dir()}: "
        "`costlens sync --db STORE` writes them."
    )


def _replay_file(store: Any, path: Path, fh: Any) -> int:
    parsed = _parse(fh.read(), path)
    n = _replay_records(store, parsed.records)
    if parsed.bad:
        _quarantine(path, parsed)
        return n
    if parsed.torn:
        log.warning("costlens: skipped a torn last line in journal %s (1 record lost)", path.name)
    path.unlink(missing_ok=True)
    return n


def replay_pending(store: Any) -> int:
    """Replay every closed journal into ``store`` and remove it; returns the records replayed.

    A journal whose writer is still alive (it holds the file's lock) is skipped. A journal that
    fails half-way because the store failed is kept and replayed again next time (replay is
    idempotent); a damaged or foreign one is quarantined after its readable records are replayed.
    """
    try:
        files = pending_files()
    except OSError:
        return 0
    total = 0
    for path in files:
        try:
            fh = open(path, "rb")  # noqa: SIM115 (never creates the file)
        except OSError:
            continue
        try:
            if _held(fh) or not path.exists():  # live, or another replayer finished it
                continue
            total += _replay_file(store, path, fh)
        finally:
            fh.close()
    return total
