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
import itertools
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from costlens.record.journal_files import (
    MAX_LINE_BYTES,
    SUFFIX,
    _held,
    closed_files,
    file_store,
    journal_dir,
)
from costlens.record.journal_records import DATETIME_KEYS, check_record, record_run_ids

log = logging.getLogger("costlens")

QUARANTINE = "quarantine"


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

    def __init__(
        self,
        run_id: str,
        rank: int = 0,
        header: Mapping[str, Any] | None = None,
        store: str | None = None,
    ):
        self.run_id = run_id
        self.rank = rank
        self.header = dict(header or {})  # the run row, written first so a file replays alone
        self.store = store  # the store it is for (``store_label``), named on the first record
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
            first = {"k": "run", "v": _encode(self.header), "owner": self.rank == 0}
            self._write({**first, **({"store": self.store} if self.store else {})})

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
            return _replay_stream(store, fh, self.path, _Parsed(), limit=size)


class _Parsed:
    """What was read of a journal file: its run, its store, its records and its bad lines."""

    def __init__(self) -> None:
        self.run_id: str | None = None  # the run the file writes to (its first record's)
        self.store: str | None = None  # the store it was recorded for (None: an older journal)
        self.records = 0  # records replayed
        self.bad = 0  # lines that are not records (not counting a torn last line)
        self.torn = False  # the last line was cut short (SIGKILL mid-write): expected
        self.first_problem = ""

    def check(self, raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
        """(record, None) or (record or None, what is wrong with the line)."""
        try:
            rec = json.loads(raw.decode("utf-8"))
            problem = check_record(rec)
        except (UnicodeDecodeError, RecursionError, ValueError):  # ValueError: 5000 digits
            return None, "not UTF-8 JSON"
        if problem is not None:
            return rec, problem
        runs = record_run_ids(rec)
        if self.run_id is None and len(runs) == 1:
            self.run_id = next(iter(runs))
            if rec.get("k") == "run":
                self.store = rec.get("store") or None
        if runs and runs != {self.run_id}:
            other = sorted(runs - {self.run_id} or runs)[0]
            return rec, f"it writes to run {other!r}, not to this journal's run {self.run_id!r}"
        return rec, None


def _lines(fh: Any, limit: int | None) -> Any:
    """(line number, line, whole) of a binary file, each line at most MAX_LINE_BYTES read into
    memory (a longer one is skipped to its end and yielded as b"" , not whole)."""
    read = 0
    for number in itertools.count(1):
        if limit is not None and read >= limit:
            return
        cap = MAX_LINE_BYTES + 1 if limit is None else min(MAX_LINE_BYTES + 1, limit - read)
        raw = fh.readline(cap)
        if not raw:
            return
        read += len(raw)
        if len(raw) > MAX_LINE_BYTES:  # a monster line: skip to its end, never hold it whole
            while raw and not raw.endswith(b"\n"):
                raw = fh.readline(MAX_LINE_BYTES)
                read += len(raw)
            yield number, b"", False
            continue
        yield number, raw, raw.endswith(b"\n")


def _replay_stream(
    store: Any,
    fh: Any,
    path: Path,
    parsed: _Parsed,
    *,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Check and replay a journal line by line, in bounded memory; bad lines are counted in
    ``parsed`` (the caller quarantines the file), the rest is applied in order."""
    from sqlalchemy.exc import DataError, IntegrityError

    for number, raw, whole in _lines(fh, limit):
        if progress is not None:
            progress(fh.tell())
        if not raw.strip():
            if raw:
                continue
            rec, problem = None, f"longer than {MAX_LINE_BYTES} bytes"
        else:
            rec, problem = parsed.check(raw.strip())
        if problem is not None:
            if not whole and rec is None and limit is None and raw:
                parsed.torn = True  # the last line, cut short
            else:
                parsed.bad += 1
                parsed.first_problem = parsed.first_problem or f"line {number}: {problem}"
            continue
        try:
            _apply(store, rec)  # type: ignore[arg-type]
            parsed.records += 1
        except (IntegrityError, DataError) as exc:
            parsed.bad += 1
            parsed.first_problem = parsed.first_problem or f"line {number}: refused ({exc.orig})"
    return parsed.records


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
    elif kind == "rank":  # counts only move forward: a replay stopped half-way rewinds nothing
        values = _decode(rec["v"])
        upsert_rank(store, values, forward_only=True)
        update_run(store, values["run_id"], rank_sums(values["run_id"]), forward_only=True)
    elif kind == "update":
        update_run(store, rec["run_id"], _decode(rec["v"]), forward_only=True)
    elif kind == "metrics":
        from costlens.store.series import apply_metric_ops

        apply_metric_ops(store, rec)


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
    kept = parsed.records
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


def _replay_file(
    store: Any, path: Path, fh: Any, progress: Callable[[Path, int, int], None] | None
) -> int:
    parsed = _Parsed()
    size = os.fstat(fh.fileno()).st_size
    tick = None if progress is None else (lambda done: progress(path, done, size))
    n = _replay_stream(store, fh, path, parsed, progress=tick)
    if parsed.bad:
        _quarantine(path, parsed)
        return n
    if parsed.torn:
        log.warning("costlens: skipped a torn last line in journal %s (1 record lost)", path.name)
    path.unlink(missing_ok=True)
    return n


def replay_files(
    store: Any,
    files: Sequence[Path],
    progress: Callable[[Path, int, int], None] | None = None,
) -> int:
    """Replay journal ``files`` into ``store`` and remove each; returns the records replayed.

    A journal whose writer is still alive (it holds the file's lock) is skipped. A journal that
    fails half-way because the store failed is kept and replayed again next time (replay is
    idempotent, counts never move back); a damaged or foreign one is quarantined after its
    readable records are replayed. ``progress(path, bytes done, bytes)`` is called as it goes.
    """
    total = 0
    for path in files:
        try:
            fh = open(path, "rb")  # noqa: SIM115 (never creates the file)
        except OSError:
            continue
        try:
            if _held(fh) or not path.exists():  # live, or another replayer finished it
                continue
            total += _replay_file(store, path, fh, progress)
        finally:
            fh.close()
    return total


def replay_pending(store: Any) -> int:
    """Replay every closed journal meant for ``store`` (or naming no store) into it; journals
    recorded for another store are left for `costlens sync`. Returns the records replayed."""
    from costlens.store.url import store_label

    try:
        files = closed_files()
    except OSError:
        return 0
    here = store_label(store.url)
    return replay_files(store, [p for p in files if file_store(p) in (None, here)])
