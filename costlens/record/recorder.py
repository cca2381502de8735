"""The buffered, crash-safe recorder: training never waits, and sampling never waits for the store.

The sampling thread takes its first reading at once and one every ``sample_interval_s`` after.
At least every ``flush_interval_s`` (5 s; ``$COSTLENS_FLUSH_INTERVAL_S``) it writes the buffered
samples, this rank's progress and a heartbeat to the run's local journal (fsync'd, a
write-ahead log of the whole run: :mod:`costlens.record.journal`) and hands the batch to the store
writer (:mod:`costlens.record.writer`), which opens the store and writes on a thread of its own,
behind a bounded queue. Whatever the store does (opening, migrating, slow, hung, gone), the samples
keep coming. The end of a run waits at most ``END_WAIT_S`` for the store; the journal is removed
only when the store holds the whole run, else it stays for ``costlens sync``, and the summary
says so. Only the sampling thread touches the buffer: there is no lock for training to wait on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from costlens.core import config
from costlens.record.journal import Journal
from costlens.record.series import SeriesBuffer
from costlens.record.steady import SteadyWindow
from costlens.record.telemetry import Reading, Sampler, host_facts
from costlens.record.writer import Batch, StoreWriter

log = logging.getLogger("costlens")

FLUSH_INTERVAL_S = 5.0
#: Run columns the training reveals as it goes: the strategy and base model inferred from the
#: model (with their basis), and a framework's max_steps and run name.
RUN_FACTS_FROM_PROGRESS = ("strategy", "base_model", "inferred_json", "expected_steps", "name")
RECONNECT_EVERY_S = 15.0
END_WAIT_S = 2.0  # the end of a run waits at most this long for a hung store
# ... but a store still being opened for the first time (imports, schema upgrade on a loaded
# machine) is not hung: the end waits for it up to this long (or the run's end timeout)
FIRST_OPEN_WAIT_S = 10.0


def flush_interval_s() -> float:
    """``$COSTLENS_FLUSH_INTERVAL_S`` (seconds above 0, at most 5) or 5. A bad value (``nan``,
    ``0``, text) is warned of and 5 is used: the recorder never stops a training run
    (``costlens run`` and ``profile()`` refuse it before training starts)."""
    return min(max(config.FLUSH_INTERVAL_S.safe_get(), 0.05), FLUSH_INTERVAL_S)


def _store_label(db: str | None) -> str | None:
    """The store the run is recorded for, as its journal names it (None: not resolvable)."""
    from costlens.store.url import store_label

    try:
        return store_label(db)
    except Exception:  # the writer reports a bad URL; the journal then names no store
        return None


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
        series: SeriesBuffer | None = None,
        make_samplers: Callable[[], list[Sampler]] = list,
        flush_every_s: float | None = None,
        detection: Any = None,
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
        self.series = series  # this rank's metric points, drained at each flush
        self._make_samplers = make_samplers
        self._detection = detection  # a cloud.Detection (owner only): instance columns when done
        self._samplers: list[Sampler] = []
        self._rows: list[tuple] = []
        self.store_label = _store_label(db)
        self._journal = Journal(self.run_id, rank, header=self._header(), store=self.store_label)
        self._writer = StoreWriter(
            db=db,
            journal=self._journal,
            header=self._header,
            is_owner=is_owner,
            multinode_energy=(lambda: self.energy_source) if is_owner and self.nodes > 1 else None,
            warn=self._log_once,
            retry_every_s=min(RECONNECT_EVERY_S, 3 * self.flush_every_s),
        )
        self._stop = threading.Event()
        self._done = threading.Event()
        self._ended = threading.Event()
        self._ready = threading.Event()
        self._final: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None
        self._errors_logged: set[str] = set()
        # facts for the summary (this node)
        self.device_names: list[str] = []
        self.samples_taken = 0
        self.util_sum = 0.0
        self.util_n = 0
        self.energy_j: float | None = None
        self.energy_source: str | None = None
        self.cpu_energy_j: float | None = None
        self.cpu_energy_basis: str | None = None
        self.latest_gpu_util: dict[int, float] = {}  # device index -> its last reading (live line)
        self.latest: dict[int, Reading] = {}  # device index (-1: host) -> its last reading
        self.device_uuids: dict[int, str] = {}
        self.store_note: str | None = None  # what the end of the run says about the store
        self._steady = SteadyWindow()

    @property
    def samples_written(self) -> int:
        """Sample rows the store is known to hold."""
        return self._writer.rows_confirmed

    @property
    def journalled(self) -> int:
        """Sample rows kept only in the local journal, true when read (0 once replayed)."""
        if self._journal.path is None or not self._journal.path.exists():
            return 0
        return max(self._journal.sample_rows - self._writer.rows_confirmed, 0)

    # ------------------------------------------------------------------ public (training thread)

    def start(self) -> None:
        """Start the threads (returns at once)."""
        self._thread = threading.Thread(target=self._main, name="costlens-recorder", daemon=True)
        self._thread.start()
        if self._detection is not None and self.is_owner:
            self._detection.start(self.run_values)

    def finish(self, final: dict[str, Any], timeout_s: float = 30.0) -> bool:
        """Ask for the last sample and flush with ``final`` run columns; wait at most
        ``min(timeout_s, END_WAIT_S)`` for the store.

        Returns True when the store holds the whole run (the journal is then removed). Otherwise
        the journal keeps it for ``costlens sync`` and :attr:`store_note` says so.
        """
        self._final = dict(final)
        self._stop.set()
        if self._thread is None:
            return False
        t0 = time.monotonic()
        deadline = t0 + min(timeout_s, END_WAIT_S)
        if not self._done.wait(max(deadline - time.monotonic(), 0.0)):
            self._journal_final_fallback()  # the sampling thread is stuck (a sampler hangs)
        first_open_deadline = t0 + min(timeout_s, FIRST_OPEN_WAIT_S)
        w = self._writer
        while not w.final_written.wait(0.02):
            now = time.monotonic()
            if now >= deadline and not (w.opening and now < first_open_deadline):
                break
        stored = w.final_written.is_set() and w.healthy
        if stored:
            self._journal.discard()
        else:
            self._journal.close()  # unlocked: `costlens sync` (or the next run) replays it
            self.store_note = self._kept_note()
            log.warning("%s", self.store_note)
        self._ended.set()
        return stored

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait until the samplers are up and ``device_names`` is known (True) or timed out."""
        return self._ready.wait(timeout_s) if self._thread is not None else False

    def wait(self, timeout_s: float) -> bool:
        """Wait until the end of the run is handled (True) or ``timeout_s`` passed."""
        return self._ended.wait(timeout_s) if self._thread is not None else True

    def _kept_note(self) -> str:
        w = self._writer
        rows = self._journal.sample_rows
        if w.gone:
            why = f"the store file changed during the run ({w.gone})"
        elif not w.opened_once:
            why = "the store could not be opened"
        else:
            why = f"the store did not take the run within {END_WAIT_S:g} s"
        where = f" in {self._journal.path}" if self._journal.path else ""
        store = f" to {self.store_label}" if self.store_label else ""
        return (
            f"costlens: {why}: the run ({rows} samples) is kept in the local journal{where}; "
            f"`costlens sync` writes it{store}"
        )

    # ------------------------------------------------------------------ the sampling thread

    def _main(self) -> None:
        try:
            self._writer.side.prestart()  # a child's imports overlap the samplers' set-up
            self._setup()
            next_sample = time.monotonic() + self.sample_interval_s
            next_flush = time.monotonic() + self.flush_every_s
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
            if self._detection is not None and self.is_owner:  # bounded: a short run gets it too
                self._detection.wait()
            self._safe(lambda: self._flush(final=True), "final flush")
        except BaseException as exc:  # never let the thread die loudly
            self._log_once("thread", exc)
        finally:
            for s in self._samplers:
                self._safe(s.close, "close")
            self._done.set()

    def _setup(self) -> None:
        """Host facts (psutil: off the training thread), samplers, a first reading, the writer."""
        self.run_values.update({k: v for k, v in host_facts().items() if k not in self.run_values})
        try:
            self._samplers = self._make_samplers()
        except Exception as exc:
            self._log_once("samplers", exc)
            self._samplers = []
        names: list[str] = []
        for s in self._samplers:
            names.extend(s.device_names())
            self.device_uuids.update(s.device_uuids())
        self.device_names = names
        if self.is_owner and names:
            self.run_values["device_name"] = names[0]
            self.run_values["device_count"] = len(names) * self.nodes
            self.run_values["mig_profile"] = next(
                (s.mig_profile() for s in self._samplers if s.kind == "nvml"), None
            )
        self._journal.header = self._header()
        self._safe(self._sample, "sample")  # first reading: energy baseline, primes cpu_percent
        self._ready.set()
        self._writer.start()

    def _header(self) -> dict[str, Any]:
        return {k: v for k, v in self.run_values.items() if v is not None}

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
                self.latest[r.device_index] = r
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
        steps = int(progress.get("steps", 0) or 0)
        flops = float(progress.get("flops", 0.0) or 0.0)
        return {
            **self._steady.values(steps, flops),
            "run_id": self.run_id,
            "rank": self.rank,
            "host": self.run_values.get("host", ""),
            "steps": steps,
            "samples": int(progress.get("samples", 0) or 0),
            "tokens": int(progress.get("tokens", 0) or 0),
            "tokens_real": int(progress.get("tokens_real", 0) or 0),
            "flops": flops,
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
        if self._detection is not None:  # every flush: a batch the store lost is retried whole
            values.update(self._detection.columns)
            self.run_values.update(self._detection.columns)
        if final and self._final:
            values.update(self._final)
        return values

    def _flush(self, final: bool = False) -> None:
        """Journal the batch (write-ahead), then hand it to the writer; never touches the store."""
        try:
            progress = self._progress() or {}
        except Exception as exc:
            self._log_once("progress", exc)
            progress = {}
        now = utcnow()
        rows, self._rows = self._rows, []
        batch = Batch(
            rows=rows,
            rank_values=self._rank_values(progress, now),
            run_update=self._run_update(progress, now, final),
            final=final,
            metrics=self._safe(self._metric_ops, "metric series"),
        )
        try:
            self._journal.header = self._header()  # written first when the file opens
            self._journal.flush_batch(
                rows, batch.rank_values, self.run_id, batch.run_update, metrics=batch.metrics
            )
        except Exception as exc:  # disk full too: the store may still take it
            self._log_once("journal", exc, "cannot write the local journal")
        self._writer.submit(batch)

    def _metric_ops(self) -> dict[str, Any] | None:
        """The metric points logged since the last flush, as store ops (None: nothing new)."""
        if self.series is None:
            return None
        puts, drops = self.series.drain()
        if not (puts or drops):
            return None
        return {"run_id": self.run_id, "rank": self.rank, "put": puts, "drop": drops}

    def _journal_final_fallback(self) -> None:
        """The sampling thread is stuck: write the final run columns from here."""
        try:
            values = {
                "heartbeat_at": utcnow(),
                **(self._final if self.is_owner and self._final else {}),
            }
            self._journal.update(self.run_id, values)
        except Exception as exc:
            self._log_once("journal", exc, "cannot write the local journal")

    # ------------------------------------------------------------------ helpers

    def _safe(self, fn: Callable[[], Any], what: str) -> Any:
        try:
            return fn()
        except Exception as exc:
            self._log_once(what, exc)
            return None

    def _log_once(self, key: str, exc: BaseException, message: str | None = None) -> None:
        """One warning per kind of failure and run (both threads call it)."""
        if key in self._errors_logged:
            return
        self._errors_logged.add(key)
        log.warning("costlens: %s (%s: %s)", message or f"{key} failed", type(exc).__name__, exc)
