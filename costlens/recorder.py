"""The buffered, crash-safe writer: one daemon thread samples and flushes; training never waits.

Every ``sample_interval_s`` the thread reads its samplers into a local buffer; at least every
``flush_interval_s`` (5 s; ``$COSTLENS_FLUSH_INTERVAL_S``) it writes the buffered samples, this
rank's progress, the run's counts (the sums over its ranks) and a heartbeat. The store is opened
on this thread, so start-up costs the training nothing. When the store fails, records go to the
local journal (:mod:`costlens.journal`) and are replayed when it answers again, or by
``costlens sync``. Only the thread touches the buffer: there is no lock for training to wait on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from costlens.errors import InputError
from costlens.journal import Journal
from costlens.telemetry import Sampler
from costlens.units import MJ_PER_J
from costlens.validate import env_number, interval_s

log = logging.getLogger("costlens")

FLUSH_INTERVAL_S = 5.0
#: Run columns the training reveals as it goes: the strategy and base model inferred from the
#: model (with their basis), and a framework's max_steps and run name.
RUN_FACTS_FROM_PROGRESS = ("strategy", "base_model", "inferred_json", "expected_steps", "name")
RECONNECT_EVERY_S = 15.0


def flush_interval_s() -> float:
    """``$COSTLENS_FLUSH_INTERVAL_S`` (seconds above 0, at most 5) or 5. A bad value (``nan``,
    ``0``, text) is warned of and 5 is used: the recorder never stops a training run
    (``costlens run`` and ``profile()`` refuse it before training starts)."""
    try:
        value = env_number("COSTLENS_FLUSH_INTERVAL_S", FLUSH_INTERVAL_S, interval_s)
    except InputError as exc:
        log.warning("costlens: %s; flushing every %g s instead", exc, FLUSH_INTERVAL_S)
        value = FLUSH_INTERVAL_S
    return min(max(value, 0.05), FLUSH_INTERVAL_S)


def utcnow() -> datetime:
    """Naive UTC now (what the store keeps)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Recorder:
    """Samples and writes one rank of one run from a background daemon thread.

    ``progress()`` returns this rank's counts (steps, samples, tokens, flops) and, for the owner
    (rank 0), run facts (flops_per_step, params_*, precision); it is called from the thread.
    ``make_samplers()`` builds the samplers on the thread (NVML's probe can take a while).
    """

    def __init__(
        self,
        *,
        run_values: dict[str, Any],
        rank: int = 0,
        node_rank: int = 0,
        nodes: int = 1,
        is_owner: bool = True,
        db: str | None = None,
        sample_interval_s: float = 1.0,
        progress: Callable[[], dict[str, Any]] = dict,
        make_samplers: Callable[[], list[Sampler]] = list,
        flush_every_s: float | None = None,
    ) -> None:
        self.run_id: str = run_values["id"]
        self.run_values = dict(run_values)
        self.rank = rank
        self.node_rank = node_rank
        self.nodes = max(nodes, 1)
        self.is_owner = is_owner
        self.db = db
        self.sample_interval_s = max(float(sample_interval_s), 0.01)
        self.flush_every_s = flush_every_s if flush_every_s is not None else flush_interval_s()
        self._progress = progress
        self._make_samplers = make_samplers
        self._samplers: list[Sampler] = []
        self._rows: list[tuple] = []
        self._store: Any = None
        self._store_dead = False
        self._next_reconnect = 0.0
        self._journal = Journal(self.run_id, rank, header=self._header())
        self._stop = threading.Event()
        self._done = threading.Event()
        self._ready = threading.Event()
        self._final: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None
        self._errors_logged: set[str] = set()
        # facts for the summary (this node)
        self.device_names: list[str] = []
        self.samples_taken = 0
        self.samples_written = 0
        self.util_sum = 0.0
        self.util_n = 0
        self.energy_j: float | None = None
        self.energy_source: str | None = None
        self.cpu_energy_j: float | None = None
        self.cpu_energy_basis: str | None = None
        self.journalled = 0
        self.latest_gpu_util: dict[int, float] = {}  # device index -> its last reading (live line)

    # ------------------------------------------------------------------ public (training thread)

    def start(self) -> None:
        """Start the thread (returns at once)."""
        self._thread = threading.Thread(target=self._main, name="costlens-recorder", daemon=True)
        self._thread.start()

    def finish(self, final: dict[str, Any], timeout_s: float = 30.0) -> bool:
        """Ask for the last sample and flush with ``final`` run columns; wait up to ``timeout_s``.

        Returns True when everything was written (store or journal). When the thread does not
        answer in time, the final columns go to a journal of their own, so nothing is lost.
        """
        self._final = dict(final)
        self._stop.set()
        if self._thread is None:
            return False
        done = self._done.wait(timeout_s)
        if not done:
            self._journal_final_fallback()
        return done

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait until the samplers are up and ``device_names`` is known (True) or timed out."""
        return self._ready.wait(timeout_s) if self._thread is not None else False

    def wait(self, timeout_s: float) -> bool:
        """Wait until the final flush is done (True) or ``timeout_s`` passed."""
        return self._done.wait(timeout_s) if self._thread is not None else True

    # ------------------------------------------------------------------ the thread

    def _main(self) -> None:
        try:
            self._setup()
            next_sample = time.monotonic()
            next_flush = next_sample + self.flush_every_s
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_sample:
                    self._safe(self._sample, "sample")
                    next_sample += self.sample_interval_s
                    if next_sample < now:
                        next_sample = now + self.sample_interval_s
                if now >= next_flush:
                    self._safe(self._flush, "flush")
                    next_flush = time.monotonic() + self.flush_every_s
                self._stop.wait(max(min(next_sample, next_flush) - time.monotonic(), 0.0))
            self._safe(self._sample, "sample")
            self._safe(lambda: self._flush(final=True), "final flush")
        except BaseException as exc:  # never let the thread die loudly
            self._log_once("thread", exc)
        finally:
            self._journal.close()
            for s in self._samplers:
                self._safe(s.close, "close")
            self._done.set()

    def _setup(self) -> None:
        try:
            self._samplers = self._make_samplers()
        except Exception as exc:
            self._log_once("samplers", exc)
            self._samplers = []
        names: list[str] = []
        for s in self._samplers:
            names.extend(s.device_names())
        self.device_names = names
        if self.is_owner and names:
            self.run_values["device_name"] = names[0]
            self.run_values["device_count"] = len(names) * self.nodes
            self._journal.header = self._header()
        self._safe(self._sample, "sample")  # first reading: energy baseline, primes cpu_percent
        self._ready.set()
        self._connect()

    def _header(self) -> dict[str, Any]:
        return {k: v for k, v in self.run_values.items() if v is not None}

    def _connect(self) -> bool:
        """Open the store and make sure the run row exists (journal on failure)."""
        if self._store is not None and not self._store_dead:
            return True
        if time.monotonic() < self._next_reconnect:
            return False
        self._next_reconnect = time.monotonic() + RECONNECT_EVERY_S
        try:
            if self._store is None:
                from costlens.store.db import open_store

                self._store = open_store(self.db)
            if self._journal.is_open:
                self._journal.replay_into(self._store)  # older records first
            self._ensure_run_row()
            self._store_dead = False
            return True
        except Exception as exc:
            self._log_once("store", exc, "store unreachable, recording to the local journal")
            self._store_dead = True
            return False

    def _ensure_run_row(self) -> None:
        from costlens.store.ingest import ensure_run

        # another rank (or a restart) may have made it first: the owner then updates facts only
        ensure_run(self._store, self._header(), update_facts=self.is_owner)

    def _sample(self) -> None:
        t = time.time()
        for s in self._samplers:
            try:
                readings = s.sample(t)
            except Exception as exc:
                self._log_once(f"sampler-{s.kind}", exc)
                continue
            for r in readings:
                self._rows.append((self.run_id, t, self.node_rank, *r))
                if r.device_index >= 0 and r.gpu_util_pct is not None:
                    self.util_sum += r.gpu_util_pct
                    self.util_n += 1
                    self.latest_gpu_util[r.device_index] = float(r.gpu_util_pct)
            self.samples_taken += len(readings)
        energies = [s.energy() for s in self._samplers if s.kind == "nvml"]
        if energies and all(e[0] is not None for e in energies):
            self.energy_j = sum(e[0] for e in energies)  # type: ignore[misc]
            self.energy_source = "+".join(sorted({e[1] for e in energies if e[1]}))
        for s in self._samplers:
            if s.kind == "host":
                self.cpu_energy_j, self.cpu_energy_basis = s.cpu_energy()

    def _rank_values(self, progress: dict[str, Any], now: datetime) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "rank": self.rank,
            "host": self.run_values.get("host", ""),
            "steps": int(progress.get("steps", 0) or 0),
            "samples": int(progress.get("samples", 0) or 0),
            "tokens": int(progress.get("tokens", 0) or 0),
            "tokens_real": int(progress.get("tokens_real", 0) or 0),
            "flops": float(progress.get("flops", 0.0) or 0.0),
            "updated_at": now,
        }

    def _run_update(self, progress: dict[str, Any], now: datetime, final: bool) -> dict[str, Any]:
        values: dict[str, Any] = {"heartbeat_at": now}
        if not self.is_owner:
            return values
        for key in (
            "flops_per_step",
            "params_total",
            "params_trainable",
            "precision",
            "metrics_json",
            *RUN_FACTS_FROM_PROGRESS,
        ):
            if progress.get(key) is not None:
                values[key] = progress[key]
        if self.device_names:
            values["device_name"] = self.device_names[0]
            values["device_count"] = len(self.device_names) * self.nodes
        if self.energy_j is not None and self.nodes == 1:
            values["energy_j"] = self.energy_j
            values["energy_source"] = self.energy_source
        if self.cpu_energy_j is not None and self.nodes == 1:  # one host's CPU: single-node only
            values["cpu_energy_j"] = self.cpu_energy_j
            values["cpu_energy_basis"] = self.cpu_energy_basis
        if final and self._final:
            values.update(self._final)
        return values

    def _flush(self, final: bool = False) -> None:
        try:
            progress = self._progress() or {}
        except Exception as exc:
            self._log_once("progress", exc)
            progress = {}
        now = utcnow()
        rows, self._rows = self._rows, []
        rank_values = self._rank_values(progress, now)
        run_update = self._run_update(progress, now, final)
        if not (final and self._store_dead):  # no reconnect attempts inside the 2 s budget
            self._connect()
        if self._store is not None and not self._store_dead:
            try:
                self._write(rows, rank_values, run_update, final)
                self.samples_written += len(rows)
                return
            except Exception as exc:
                self._log_once("store-write", exc, "store write failed, using the local journal")
                self._store_dead = True
        self._journal_records(rows, rank_values, run_update)

    def _write(self, rows: list[tuple], rank_values: dict, run_update: dict, final: bool) -> None:
        from costlens.store.ingest import insert_samples, replace_samples, update_run, upsert_rank
        from costlens.store.progress import rank_sums

        if rows:
            if self._journal.records:  # after an outage a batch may have landed: write it once
                replace_samples(self._store, rows)
            else:
                insert_samples(self._store, rows)
        if final and self.is_owner and self.nodes > 1:
            run_update = {**run_update, **self._multinode_energy()}
        upsert_rank(self._store, rank_values)
        update_run(self._store, self.run_id, {**rank_sums(self.run_id), **run_update})

    def _journal_records(self, rows: list[tuple], rank_values: dict, run_update: dict) -> None:
        try:
            self._journal.header = self._header()  # written first when the file opens
            if rows:
                self._journal.samples(rows)
            self._journal.rank_progress(rank_values)
            self._journal.update(self.run_id, run_update)
            self.journalled += len(rows)
        except Exception as exc:  # disk full too: nothing left to do but say so once
            self._log_once("journal", exc, "cannot write the local journal")

    def _journal_final_fallback(self) -> None:
        """The thread is stuck (a hung store): write the final run columns from here."""
        try:
            now = utcnow()
            j = Journal(self.run_id, self.rank, header=self._header())
            values = {"heartbeat_at": now, **(self._final if self.is_owner and self._final else {})}
            j.update(self.run_id, values)
            j.close()
        except Exception as exc:
            self._log_once("journal", exc, "cannot write the local journal")

    def _multinode_energy(self) -> dict[str, Any]:
        """Energy of every node: the last per-device reading in the store (rank 0, at the end)."""
        if self._store is None or self._store_dead:
            return {}
        try:
            from costlens.store.progress import devices_energy_mj

            got = devices_energy_mj(self._store, self.run_id)
            if got is None:
                return {}
            return {"energy_j": got / MJ_PER_J, "energy_source": self.energy_source}
        except Exception as exc:
            self._log_once("energy", exc)
            return {}

    # ------------------------------------------------------------------ helpers

    def _safe(self, fn: Callable[[], Any], what: str) -> Any:
        try:
            return fn()
        except Exception as exc:
            self._log_once(what, exc)
            return None

    def _log_once(self, key: str, exc: BaseException, message: str | None = None) -> None:
        if key in self._errors_logged:
            return
        self._errors_logged.add(key)
        log.warning("costlens: %s (%s: %s)", message or f"{key} failed", type(exc).__name__, exc)
