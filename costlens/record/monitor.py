"""The live thread: the cost line on stderr, the spend and idle guards, progress to trackers.

One daemon thread per run, apart from the training thread and the recorder: it reads the run's
in-memory counts (the same ``progress()`` the recorder writes) and the recorder's latest GPU
readings, never the store. On a terminal it redraws one line about once a second; without a
terminal it writes a line every ``LINE_EVERY_S_NO_TTY`` seconds at most; ``quiet`` turns the line
off (the guards still warn). A guard's stop goes through :meth:`LiveSource.request_stop`, the
same path as a SIGTERM (:func:`costlens.record.signals.request_stop`).

The price and the trackers come from outside the hot path (:class:`RunExtensions`, filled in by
:mod:`costlens.apps.tracking`): the hourly rate is resolved once, on this thread, when the
recorder has named the devices.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from costlens.core.vocab import DEFAULT_IDLE_THRESHOLD_PCT
from costlens.record.live import (
    GuardEvent,
    HourlyRate,
    IdleGuard,
    LiveFigures,
    SpendGuard,
    StepRate,
    format_line,
    live_figures,
)
from costlens.record.safety import log_once

LINE_EVERY_S_TTY = 1.0
LINE_EVERY_S_NO_TTY = 300.0
PROGRESS_EVERY_S = 5.0  # cost so far to MLflow / W&B (the recorder's flush interval)
READY_TIMEOUT_S = 30.0  # wait this long for the recorder to name the devices before pricing


@dataclass
class RunExtensions:
    """What the layers above the profiler add to a run (all optional).

    ``rate(facts)``: the run's :class:`HourlyRate` from its facts (``device``, ``device_count``,
    ``provider``, ``instance_type``, ``host_cpu_count``), called once; None when unpriced.
    ``on_progress(run_id, figures, rate)``: every ``PROGRESS_EVERY_S`` (cost so far to trackers).
    ``on_end(run_id, db)``: after the final flush, on the thread that ends the run.
    ``peak(facts)``: precision -> one device's peak FLOP/s (the metrics' MFU), called once.
    """

    rate: Callable[[dict[str, Any]], HourlyRate | None] | None = None
    on_progress: Callable[[str, LiveFigures, HourlyRate | None], None] | None = None
    on_end: Callable[[str, str | None], None] | None = None
    peak: Callable[[dict[str, Any]], Callable[[str | None], float | None] | None] | None = None


@dataclass
class LiveOptions:
    """The live line and the guards. ``max_usd``: stop at this spend (warn at 80%);
    ``stop_when_idle_min``: stop when every GPU is idle this many minutes; ``quiet``: no line;
    ``metrics_port``: serve ``/metrics`` on ``metrics_addr`` (:mod:`costlens.record.exporters`;
    OTLP too when the ``OTEL_*`` variables ask for it)."""

    max_usd: float | None = None
    stop_when_idle_min: float | None = None
    idle_threshold_pct: float = DEFAULT_IDLE_THRESHOLD_PCT
    quiet: bool = False
    tick_s: float = 1.0
    extensions: RunExtensions = field(default_factory=RunExtensions)
    metrics_port: int | None = None
    metrics_addr: str = "127.0.0.1"

    def otel(self) -> bool:
        from costlens.record.exporters import otel_configured

        return otel_configured()

    def wanted(self) -> bool:
        """Whether a thread is needed at all."""
        ext = self.extensions
        return (
            not self.quiet
            or bool(self.max_usd or self.stop_when_idle_min or ext.on_progress or ext.on_end)
            or self.metrics_port is not None
            or self.otel()
        )


class LiveSource(Protocol):
    """What the thread reads from a run (a :class:`costlens.record.run.ProfiledRun`)."""

    id: str

    def elapsed_s(self) -> float: ...
    def live_counts(self) -> tuple[int, int | None]: ...
    def gpu_utils(self) -> list[float]: ...
    def run_facts(self, timeout_s: float) -> dict[str, Any]: ...
    def metric_facts(self) -> dict[str, Any]: ...
    def request_stop(self, reason: str) -> None: ...


class LiveMonitor:
    """The live thread of one run: ``start()``, then ``stop()`` before the run's end."""

    def __init__(self, run: LiveSource, options: LiveOptions, stream: TextIO | None = None):
        self.run = run
        self.options = options
        self.stream = stream if stream is not None else sys.stderr
        self.rate: HourlyRate | None = None
        self.last: LiveFigures | None = None
        self.stopped_for: str | None = None
        self._tty = _isatty(self.stream)
        self._guards: list[Any] = []
        if options.max_usd:
            self._guards.append(SpendGuard(options.max_usd))
        self._idle = (
            IdleGuard(options.stop_when_idle_min, options.idle_threshold_pct)
            if options.stop_when_idle_min
            else None
        )
        self._steps = StepRate()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False
        self._next_line = LINE_EVERY_S_TTY if self._tty else LINE_EVERY_S_NO_TTY
        self._next_progress = PROGRESS_EVERY_S
        self._exporters: list[Any] = []  # the /metrics server, the OTLP provider

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="costlens-live", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """End the thread and clear the line (safe to call from the thread itself)."""
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout_s)
        self._clear()
        for exporter in self._exporters:  # the last OTLP export goes out; /metrics closes
            try:
                exporter.shutdown()
            except Exception as exc:
                log_once("metrics-stop", exc)
        self._exporters = []

    # ------------------------------------------------------------------ the thread

    def _main(self) -> None:
        try:
            feed = self._start_exporters()
            facts = self.run.run_facts(READY_TIMEOUT_S)
            rate_of = self.options.extensions.rate
            if rate_of is not None and not self._stop.is_set():
                try:
                    self.rate = rate_of(facts)
                except Exception as exc:  # pricing is a display: never a reason to fail
                    log_once("live-rate", exc)
            peak_of = self.options.extensions.peak
            if feed is not None and peak_of is not None and not self._stop.is_set():
                try:
                    feed.peak_of = peak_of(facts)
                except Exception as exc:
                    log_once("live-peak", exc)
            if self.rate is None and self.options.max_usd:
                self._say(
                    "costlens: warning: no price for this run's hardware, so --max-usd cannot "
                    "be enforced (declare --provider/--instance, or add a price row)."
                )
            while not self._stop.wait(max(self.options.tick_s, 0.01)):
                self.tick()
        except Exception as exc:
            log_once("live", exc)

    def _start_exporters(self) -> Any:
        """The /metrics server and OTLP, when asked for (on this thread); their feed or None."""
        o = self.options
        otel = o.otel()
        if o.metrics_port is None and not otel:
            return None
        from costlens.record.exporters import start_otel, start_prometheus
        from costlens.record.metrics import MetricsFeed

        feed = MetricsFeed(self.run, self)
        if o.metrics_port is not None:
            self._exporters.append(start_prometheus(feed.metrics, o.metrics_port, o.metrics_addr))
        if otel:
            self._exporters.append(start_otel(feed.metrics))
        self._exporters = [e for e in self._exporters if e is not None]
        return feed

    def tick(self) -> LiveFigures:
        """One reading: figures, guards, the line, progress to trackers (public for tests)."""
        elapsed = self.run.elapsed_s()
        steps, expected = self.run.live_counts()
        utils = self.run.gpu_utils()
        fig = live_figures(
            elapsed_s=elapsed,
            steps=steps,
            steps_per_s=self._steps.update(elapsed, steps),
            gpu_utils=utils,
            rate=self.rate,
            expected_steps=expected,
        )
        self.last = fig
        events = [g.check(fig) for g in self._guards]
        if self._idle is not None:
            events.append(self._idle.check(elapsed, utils))
        for event in events:
            if event is not None and self._handle(event):
                return fig
        if not self.options.quiet and elapsed >= self._next_line:
            self._draw(format_line(fig, self.rate))
            self._next_line = elapsed + (LINE_EVERY_S_TTY if self._tty else LINE_EVERY_S_NO_TTY)
        on_progress = self.options.extensions.on_progress
        if on_progress is not None and elapsed >= self._next_progress:
            self._next_progress = elapsed + PROGRESS_EVERY_S
            try:
                on_progress(self.run.id, fig, self.rate)
            except Exception as exc:  # a tracker's error never reaches training
                log_once("live-progress", exc)
        return fig

    def _handle(self, event: GuardEvent) -> bool:
        """Say it; on "stop", stop the training (True: nothing more to do this tick)."""
        self._say(event.message)
        if event.action != "stop" or self.stopped_for is not None:
            return False
        self.stopped_for = event.reason
        self._stop.set()
        self.run.request_stop(event.reason)
        return True

    # ------------------------------------------------------------------ output

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr: nothing to show it on
            self._stop.set()

    def _draw(self, line: str) -> None:
        if self._tty:
            self._write(f"\r{line}\x1b[K")
            self._drawn = True
        else:
            self._write(line + "\n")

    def _clear(self) -> None:
        if self._drawn:
            self._drawn = False
            self._write("\r\x1b[K")

    def _say(self, message: str) -> None:
        """A line of its own (a guard's warning), above the live line."""
        self._clear()
        self._write(message + "\n")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
