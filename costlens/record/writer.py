"""The recorder's store writer: its own daemon thread behind a bounded queue, so sampling never
waits for the store (opening, migrating, slow, hung or gone).

Every batch reaches it already written to the run's journal (the recorder journals first), so a
batch that fails, times out or finds the queue full is never lost: the writer marks itself
behind and, when the store answers again, replays the journal (idempotent) to catch up. Writes
run under ``WRITE_TIMEOUT_S`` (PostgreSQL statement and lock timeouts, SQLite's busy timeout).
A SQLite file deleted, moved or replaced during the run (its ``st_dev``/``st_ino`` checked before
each write and after the last) is a dead store: the run is no longer in it, so the whole journal
is kept for ``costlens sync``. The store work itself runs on a "side"
(:mod:`costlens.record.store_side`): a child process for a SQLite file, so no failure of the
store's files (a SIGBUS on its shared-memory map) can kill the training; this process otherwise.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from costlens.record.journal import Journal
from costlens.record.store_side import ChildSide, LocalSide, StoreGone, uses_child

WRITE_TIMEOUT_S = 5.0
FINAL_RETRY_S = 1.8  # the last batch is retried this long (the end of a run waits 2 s)
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


class StoreWriter:
    """Writes batches to the store from its own thread; knows what the store really holds."""

    def __init__(
        self,
        *,
        db: str | None,
        journal: Journal,
        header: Callable[[], dict[str, Any]],
        is_owner: bool,
        multinode_energy: Callable[[], str | None] | None,
        warn: Callable[[str, BaseException, str], None],
        retry_every_s: float,
    ) -> None:
        self.db = db
        self.journal = journal
        self._header = header
        self.is_owner = is_owner
        self._multinode_energy = multinode_energy  # the energy source, for a multi-node owner
        self._warn = warn
        self.retry_every_s = retry_every_s
        self._queue: queue.Queue[Batch] = queue.Queue(maxsize=QUEUE_BATCHES)
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        side = ChildSide if uses_child(db) else LocalSide
        self.side: ChildSide | LocalSide = side(db, WRITE_TIMEOUT_S)
        self.behind = True  # nothing confirmed yet: the store has not been opened
        self.gone: str | None = None  # why the store no longer holds the run
        self.rows_confirmed = 0  # sample rows known to be in the store
        self.final_written = threading.Event()
        self.opened_once = False  # the store was opened at least once
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
                    if final:
                        if self._final_catch_up():
                            self.final_written.set()
                        return
                    self._catch_up()
                    continue
                if batch is not None and self._write(batch) and batch.final:
                    self._check_identity_after_final()
                    return
        except BaseException as exc:  # never let the thread die loudly
            self._warn("writer", exc, "store writer stopped, the local journal keeps the run")
        finally:
            self.opening = False
            try:
                self.side.close()
            except Exception as exc:
                self._warn("writer-close", exc, "store writer did not close cleanly")

    def _final_catch_up(self) -> bool:
        """The last batch: catch up, retried for ``FINAL_RETRY_S`` while the store fails (a
        connection cut every 0.3 s), so a flaky store does not leave the run to `sync`."""
        deadline = time.monotonic() + FINAL_RETRY_S
        while not self._catch_up(force=True):
            if self.gone is not None or time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _open(self) -> None:
        self.side.open(self._header(), self.is_owner)
        self.opened_once = True

    def _lose_store(self, exc: StoreGone) -> None:
        self.gone = str(exc)
        self.rows_confirmed = 0
        self._warn(
            "store-gone",
            exc,
            "the store file changed under the run: the whole run is kept in the local journal; "
            "`costlens sync` writes it",
        )
        self.side.close()

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
            if size > 0 and self.journal.path is not None:
                self.side.replay_head(str(self.journal.path), size)
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
        try:
            source = None
            if b.final and self._multinode_energy is not None:
                source = self._multinode_energy() or ""
            self.side.write(b.rows, b.rank_values, b.run_update, self._replace, source, b.metrics)
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
            self.side.check_identity()
        except StoreGone as exc:
            self.final_written.clear()
            self._lose_store(exc)
