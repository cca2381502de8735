"""The recorder's store writer: its own daemon thread behind a bounded queue, so sampling never
waits for the store (opening, migrating, slow, hung or gone).

Every batch reaches it already written to the run's journal (the recorder journals first), so a
batch that fails, times out or finds the queue full is never lost: the writer marks itself
behind and, when the store answers again, replays the journal (idempotent) to catch up. Writes
run under ``WRITE_TIMEOUT_S`` (PostgreSQL statement and lock timeouts, SQLite's busy timeout).
A SQLite file deleted, moved or replaced during the run (its ``st_dev``/``st_ino`` checked before
each write and after the last) is a dead store: the run is no longer in it, so the whole journal
is kept for ``costlens sync``.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from costlens.record.journal import Journal

WRITE_TIMEOUT_S = 5.0
QUEUE_BATCHES = 32  # flushes waiting for the store before the journal alone holds them


@dataclass
class Batch:
    """One flush: sample rows, this rank's progress, the run's columns (``final``: the last)."""

    rows: list[tuple]
    rank_values: dict[str, Any]
    run_update: dict[str, Any]
    final: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None  # metric series ops (costlens.store.series)


class StoreGone(Exception):
    """The SQLite file the run was written to is no longer the file at its path."""


class StoreWriter:
    """Writes batches to the store from its own thread; knows what the store really holds."""

    def __init__(
        self,
        *,
        db: str | None,
        journal: Journal,
        header: Callable[[], dict[str, Any]],
        is_owner: bool,
        multinode_energy: Callable[[Any], dict[str, Any]] | None,
        warn: Callable[[str, BaseException, str], None],
        retry_every_s: float,
    ) -> None:
        self.db = db
        self.journal = journal
        self._header = header
        self.is_owner = is_owner
        self._multinode_energy = multinode_energy
        self._warn = warn
        self.retry_every_s = retry_every_s
        self._queue: queue.Queue[Batch] = queue.Queue(maxsize=QUEUE_BATCHES)
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self.store: Any = None
        self.behind = True  # nothing confirmed yet: the store has not been opened
        self.gone: str | None = None  # why the store no longer holds the run
        self.rows_confirmed = 0  # sample rows known to be in the store
        self.final_written = threading.Event()
        self._identity: tuple[int, int] | None = None
        self._opened = False
        self.opening = True  # the first open is under way (not failed, not done)
        self._replace = False  # after a catch-up a batch may be there already: write it once
        self._next_try = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="costlens-writer", daemon=True)
        self._thread.start()

    def submit(self, batch: Batch) -> None:
        """Hand a (journalled) batch over; never blocks. A full queue: the journal holds it."""
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
            self.behind = True
        if batch.final:
            self._closing.set()

    @property
    def healthy(self) -> bool:
        """The store holds everything journalled so far (as far as the writer knows)."""
        return self.gone is None and not self.behind

    # ------------------------------------------------------------------ the thread

    def _main(self) -> None:
        try:
            self._catch_up(force=True)
            self.opening = False
            while True:
                try:
                    batch: Batch | None = self._queue.get(timeout=0.1)
                except queue.Empty:
                    batch = None
                if self.gone is not None:
                    if self._closing.is_set():
                        return
                    continue
                if self.behind:
                    final = (batch is not None and batch.final) or self._closing.is_set()
                    if self._catch_up(force=final) and final:
                        self.final_written.set()
                    if final:
                        return
                    continue
                if batch is not None and self._write(batch) and batch.final:
                    self._check_identity_after_final()
                    return
        except BaseException as exc:  # never let the thread die loudly
            self._warn("writer", exc, "store writer stopped, the local journal keeps the run")
        finally:
            self.opening = False

    def _open(self) -> None:
        from costlens.store.db import OpenMode, open_store, sqlite_path
        from costlens.store.ingest import ensure_run

        if self.store is None:
            store = open_store(self.db, OpenMode.WRITE, write_timeout_s=WRITE_TIMEOUT_S)
            path = sqlite_path(store)
            if path and path != ":memory:":
                try:
                    st = os.stat(path)
                except OSError as exc:
                    store.dispose()
                    raise StoreGone(f"{path} was deleted or its folder removed") from exc
                self._identity = (st.st_dev, st.st_ino)
            self.store = store
        self._check_identity()
        ensure_run(self.store, self._header(), update_facts=self.is_owner)
        self._opened = True

    def _check_identity(self) -> None:
        if self._identity is None:
            return
        from costlens.store.db import sqlite_path

        path = sqlite_path(self.store)
        try:
            st = os.stat(path)  # type: ignore[arg-type]
        except OSError as exc:
            raise StoreGone(f"{path} was deleted or its folder removed") from exc
        if (st.st_dev, st.st_ino) != self._identity:
            raise StoreGone(f"{path} was replaced or moved")

    def _lose_store(self, exc: StoreGone) -> None:
        self.gone = str(exc)
        self.rows_confirmed = 0
        self._warn(
            "store-gone",
            exc,
            "the store file changed under the run: the whole run is kept in the local journal; "
            "`costlens sync` writes it",
        )
        store, self.store = self.store, None
        if store is not None:
            store.dispose()

    def _catch_up(self, force: bool = False) -> bool:
        """Open the store if needed and replay the journal so far; True when caught up."""
        if not force and time.monotonic() < self._next_try:
            return False
        self._next_try = time.monotonic() + self.retry_every_s
        drained_final = False
        while not self.journal.failed:  # every queued batch is in the journal: the replay writes it
            try:
                drained_final = self._queue.get_nowait().final or drained_final
            except queue.Empty:
                break
        if self.journal.failed:  # the journal cannot be trusted to hold them: write what is queued
            try:
                self._open()
            except Exception as exc:
                self._warn("store", exc, "store unreachable and the local journal failed")
                return False
            self.behind = False
            return True
        try:
            self._open()
            size, rows = self.journal.mark()
            self.journal.replay_head(self.store, size)
        except StoreGone as exc:
            self._lose_store(exc)
            return False
        except Exception as exc:
            self.behind = True
            self._warn("store", exc, "store unreachable, recording to the local journal")
            return False
        self.rows_confirmed = rows
        self.behind = False
        self._replace = self._replace or size > 0
        if drained_final:
            self.final_written.set()
            self._check_identity_after_final()
        return True

    def _write(self, b: Batch) -> bool:
        from costlens.store.ingest import insert_samples, replace_samples, update_run, upsert_rank
        from costlens.store.progress import rank_sums
        from costlens.store.series import apply_metric_ops

        try:
            self._check_identity()
            if b.rows:
                (replace_samples if self._replace else insert_samples)(self.store, b.rows)
            if b.metrics:
                apply_metric_ops(self.store, b.metrics)  # idempotent: deletes its keys first
            run_update = b.run_update
            if b.final and self._multinode_energy is not None:
                run_update = {**run_update, **self._multinode_energy(self.store)}
            upsert_rank(self.store, b.rank_values)
            update_run(
                self.store,
                b.rank_values["run_id"],
                {**rank_sums(b.rank_values["run_id"]), **run_update},
            )
        except StoreGone as exc:
            self._lose_store(exc)
            return False
        except Exception as exc:
            self.behind = True
            self._next_try = time.monotonic() + self.retry_every_s
            self._warn("store-write", exc, "store write failed, using the local journal")
            return False
        self.rows_confirmed += len(b.rows)
        if b.final:
            self.final_written.set()
        return True

    def _check_identity_after_final(self) -> None:
        try:
            self._check_identity()
        except StoreGone as exc:
            self.final_written.clear()
            self._lose_store(exc)
