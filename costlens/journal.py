"""The offline journal: what a run could not write to the store, kept on local disk.

Append-only JSON lines under ``<home>/journal/``, one file per writing process, fsync'd on each
append. :func:`replay_pending` replays closed journals into the store idempotently (runs are
upserted, samples replaced by their natural key, so a replay interrupted half-way and run again
writes every record once) and removes them. A journal still held by a live process (an flock) is
left alone. With no journal folder it returns at once. Every store access is a
:mod:`costlens.store` function.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from costlens.paths import home_dir

log = logging.getLogger("costlens")

_DATETIME_KEYS = ("started_at", "ended_at", "heartbeat_at", "updated_at")
SUFFIX = ".jsonl"


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
    for k in _DATETIME_KEYS:
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
        self.records = 0

    def _open(self) -> None:
        folder = journal_dir(create=True)
        name = f"{self.run_id}-r{self.rank}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        self.path = folder / name
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (held open on purpose)
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX)
        if self.header:
            self._write({"k": "run", "v": _encode(self.header), "owner": self.rank == 0})

    def _write(self, record: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.records += 1

    @property
    def is_open(self) -> bool:
        return self._fh is not None

    def run(self, values: Mapping[str, Any], owner: bool = True) -> None:
        """A run row: inserted if missing; its columns updated when ``owner`` (rank 0)."""
        self.append({"k": "run", "v": _encode(values), "owner": owner})

    def samples(self, rows: Sequence[Sequence[Any]]) -> None:
        self.append({"k": "samples", "rows": [list(r) for r in rows]})

    def rank_progress(self, values: Mapping[str, Any]) -> None:
        """A rank's progress; on replay the run's counts become the sums over its ranks again."""
        self.append({"k": "rank", "v": _encode(values)})

    def update(self, run_id: str, values: Mapping[str, Any]) -> None:
        self.append({"k": "update", "run_id": run_id, "v": _encode(values)})

    def append(self, record: Mapping[str, Any]) -> None:
        if self._fh is None:
            self._open()
        self._write(record)

    def close(self) -> None:
        """Close (and unlock) the file; it is then replayable by anyone."""
        if self._fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
                self._fh.close()
            self._fh = None

    def replay_into(self, store: Any) -> int:
        """Replay this (still locked) journal into ``store``, then remove it; records replayed."""
        if self._fh is None or self.path is None:
            return 0
        n = _replay_lines(store, self.path)
        self.path.unlink(missing_ok=True)
        self.close()
        self.path = None
        self.records = 0
        return n


def _iter_records(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:  # a torn last line (SIGKILL mid-write): skip it
                log.warning("costlens: skipped a torn line in journal %s", path.name)


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


def _replay_lines(store: Any, path: Path) -> int:
    n = 0
    for rec in _iter_records(path):
        _apply(store, rec)
        n += 1
    return n


def pending_files() -> list[Path]:
    """Journal files on disk, oldest first (empty when there is no journal folder)."""
    folder = journal_dir(create=False)
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.suffix == SUFFIX]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def replay_pending(store: Any) -> int:
    """Replay every closed journal into ``store`` and remove it; returns the records replayed.

    A journal whose writer is still alive (it holds the file's lock) is skipped. A journal that
    fails half-way is kept and replayed again next time (replay is idempotent).
    """
    try:
        files = pending_files()
    except OSError:
        return 0
    total = 0
    for path in files:
        try:
            fh = open(path, encoding="utf-8")  # noqa: SIM115 (never creates the file)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # a live run is writing it
                continue
            if not path.exists():  # another replayer finished it meanwhile
                continue
            total += _replay_lines(store, path)
            path.unlink(missing_ok=True)
        finally:
            fh.close()
    return total
