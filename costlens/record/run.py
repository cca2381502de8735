"""One recorded run: :class:`ProfiledRun` starts the recorder and the FLOP meter, and ends them
with a status.

The training thread only starts a daemon thread (:class:`~costlens.record.recorder.Recorder`) and
installs the FLOP meter; the store is opened on that thread. Ending a run maps what happened to a
status: normal end -> completed, exception -> failed (re-raised unchanged), Ctrl-C ->
interrupted, SIGTERM -> preempted (:mod:`costlens.record.signals`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shlex
import socket
import sys
import threading
import time
from typing import Any

import costlens.record.signals as signals
from costlens.core import config
from costlens.core.units import json_ready
from costlens.core.vocab import OTHER_STRATEGY, STRATEGIES
from costlens.record.cloud import Detection
from costlens.record.distributed import DistInfo, dist_info, make_run_id
from costlens.record.monitor import LiveMonitor
from costlens.record.options import RunOptions
from costlens.record.recorder import Recorder, utcnow
from costlens.record.runtime import (
    _attach_frameworks,
    _make_meter,
    _make_samplers,
    _script_name,
    _user,
    exit_code_for,
    status_for,
)
from costlens.record.safety import log_once, safe_call
from costlens.record.series import NAME_MAX_CHARS, SeriesBuffer, point_value
from costlens.record.summary import summary_text

log = logging.getLogger("costlens")

NORMAL_END_TIMEOUT_S = 15.0


class ProfiledRun:
    """One recorded run. ``.id``; ``.log(**metrics)``; ``.step(samples=, tokens=)``."""

    def __init__(self, options: RunOptions, default_name: str = "") -> None:
        self.options = options
        self.default_name = default_name
        self.id: str = ""
        self.status: str | None = None
        self.dist = DistInfo()
        self._metrics: dict[str, Any] = {}
        self._metrics_json: str | None = None
        self._series = SeriesBuffer()  # this rank's metric points (record/series.py)
        self._steps = 0
        self._samples = 0
        self._tokens = 0
        self._trainer: dict[str, Any] = {}  # a framework callback's own facts (steps, max_steps)
        self._attach: Any = None
        self._meter: Any = None
        self._recorder: Recorder | None = None
        self._t0 = 0.0
        self._ended = False
        self.expected_steps: int | None = options.expected_steps
        self.stop_reason: str | None = None  # set by a guard that stops the training
        self._monitor: LiveMonitor | None = None
        self._lock = threading.RLock()  # taken only at the end (re-entrant: SIGTERM mid-end)

    # -------------------------------------------------------------- user API (hot path: cheap)

    def step(self, samples: int = 0, tokens: int = 0) -> None:
        """Declare one training step with its samples and tokens (optional)."""
        # Plain integer adds (no lock): the recorder thread reads them; declared counts win over
        # the FLOP meter's inferred ones (as FlopMeter.declare would), without its lock per step.
        try:
            self._steps += 1
            self._samples += int(samples)
            self._tokens += int(tokens)
        except Exception as exc:
            log_once("step", exc)

    def expect_steps(self, total: int | None) -> None:
        """Declare the run's total steps (a Trainer's max_steps), for the projected cost."""
        try:
            self.expected_steps = int(total) if total and int(total) > 0 else None
        except (TypeError, ValueError) as exc:
            log_once("expect_steps", exc)

    def log(self, step: int | None = None, rank: int | None = None, **metrics: Any) -> None:
        """Record metrics (accuracy, loss, ...) at a training step (default: the run's current
        step), each kept as a point of its series with the time (bounded:
        :mod:`costlens.record.series`); the run's final values are the latest logged. Under
        torchrun only rank 0's points are kept, or those of ``rank`` when given (each point
        once). ``step`` and ``rank`` are therefore not metric names."""
        try:
            values = {str(k): json_ready(v) for k, v in metrics.items()}
            self.log_final(**values)
            if (0 if rank is None else int(rank)) != self.dist.rank:
                return
            at = self.live_counts()[0] if step is None else int(step)
            t = time.time()
            for name, value in values.items():
                number = point_value(value)
                if number is not None and len(name) <= NAME_MAX_CHARS:
                    self._series.add(name, at, t, number)
        except Exception as exc:
            log_once("log", exc)

    def log_final(self, **metrics: Any) -> None:
        """Record final values only (``metrics_json``, no series point): later values replace
        earlier ones (a framework's end-of-training summary, which is no evaluation)."""
        try:
            self._metrics.update({str(k): json_ready(v) for k, v in metrics.items()})
            self._metrics_json = json.dumps(self._metrics, sort_keys=True)
        except Exception as exc:
            log_once("log", exc)

    def trainer_progress(
        self,
        *,
        steps: int | None = None,
        expected_steps: int | None = None,
        name: str | None = None,
    ) -> None:
        """What a training framework says of itself (its callbacks call it): its own step count
        (wins over the counted one), ``max_steps`` (for a projected end), its run name (used when
        none was declared). A trainer resumed from a checkpoint at step k counts from k: the
        first count it reports is that start, so the run records the steps it took itself."""
        try:
            t = self._trainer
            if steps is not None:
                start = t.setdefault("start", int(steps))
                t["steps"] = int(steps) - start
            if expected_steps is not None and int(expected_steps) > 0:
                t["expected_steps"] = int(expected_steps) - t.get("start", 0)
            if name and not self.options.name:
                t["name"] = str(name)
        except Exception as exc:
            log_once("trainer", exc)

    # -------------------------------------------------------------- lifecycle

    def start(self) -> ProfiledRun:
        """Start recording (returns at once; the store is opened on the recorder's thread)."""
        try:
            self._start()
        except Exception as exc:
            log_once("start", exc)
            if self._meter is not None:  # leave no hooks behind a run that never started
                safe_call(self._meter.uninstall, "flops")
                self._meter = None
        return self

    def _run_values(self) -> dict[str, Any]:
        """The run row's facts at start (what the user declared and where it runs). The host's
        memory (psutil) is read on the recorder's thread, not here on the training thread."""
        o, d = self.options, self.dist
        strategy = o.strategy or OTHER_STRATEGY
        if strategy not in STRATEGIES:
            log.warning(
                "costlens: unknown strategy %r recorded as 'other' (choose one of %s)",
                strategy,
                ", ".join(STRATEGIES),
            )
            strategy = OTHER_STRATEGY
        now = utcnow()
        return {
            "id": self.id,
            "project": o.project or config.PROJECT.safe_get(),
            "name": o.name or self.default_name or _script_name(),
            "tags_json": json.dumps([str(t) for t in (o.tags or [])]),
            "status": "running",
            "started_at": now,
            "heartbeat_at": now,
            "host": socket.gethostname(),
            "user": _user(),
            "command": o.command if o.command is not None else shlex.join(sys.argv),
            "strategy": strategy,
            "base_model": o.base_model,
            "world_size": d.world_size,
            "launcher": d.launcher,
            "job_id": d.job_id,
            "job_partition": d.job_partition,
            "provider": o.provider,
            "instance_type": o.instance,
            "region": o.region,
            "expected_steps": self.expected_steps,
            "host_cpu_count": os.cpu_count(),
        }

    def _start(self) -> None:
        o = self.options
        self._t0 = time.monotonic()
        self.dist = d = dist_info()
        self.id = make_run_id(d)
        values = self._run_values()
        self._meter = safe_call(_make_meter, "flops")
        self._attach = safe_call(_attach_frameworks, "frameworks")
        sample_gpus = d.local_rank == 0
        root_pid = os.getppid() if d.run_key is not None and sample_gpus else None
        self._recorder = Recorder(
            run_values=values,
            rank=d.rank,
            node_rank=d.node_rank,
            nodes=d.nodes,
            is_owner=d.rank == 0,
            db=o.db,
            sample_interval_s=o.sample_interval_s,
            progress=self._progress,
            series=self._series,
            make_samplers=functools.partial(_make_samplers, sample_gpus, root_pid),
            detection=Detection() if d.rank == 0 else None,
        )
        self._recorder.start()
        signals.register(self)
        if d.rank == 0 and o.live.wanted():
            self._monitor = LiveMonitor(self, o.live)
            self._monitor.start()

    # -------------------------------------------------------------- what the live thread reads

    def elapsed_s(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self._t0

    def live_counts(self) -> tuple[int, int | None]:
        """(steps so far, expected steps or None), from memory: declared steps win, then what a
        framework's callback said (its own step count and max_steps), then the meter's count."""
        trainer = self._trainer
        steps = self._steps or trainer.get("steps")
        if not steps and self._meter is not None:
            steps = self._meter.snapshot().steps
        return int(steps or 0), self.expected_steps or trainer.get("expected_steps")

    def gpu_utils(self) -> list[float]:
        """The latest utilisation reading of every GPU this node samples (percent)."""
        rec = self._recorder
        return list(rec.latest_gpu_util.values()) if rec is not None else []

    def run_facts(self, timeout_s: float) -> dict[str, Any]:
        """What prices the run (device, count, provider, instance, host vCPUs), once the
        recorder has named the devices (or ``timeout_s`` passed)."""
        rec = self._recorder
        if rec is None:
            return {}
        rec.wait_ready(timeout_s)
        values = rec.run_values
        return {
            "id": self.id,
            "device": values.get("device_name"),
            "device_count": values.get("device_count") or 0,
            "provider": values.get("provider"),
            "instance_type": values.get("instance_type"),
            "host_cpu_count": values.get("host_cpu_count"),
        }

    def metric_facts(self) -> dict[str, Any]:
        """What the metrics read (from memory, on an exporter's thread): labels, tokens, FLOPs,
        precision, each GPU's (index, uuid, latest reading), the host reading, CPU energy."""
        rec, o = self._recorder, self.options
        values = rec.run_values if rec is not None else {}
        tokens, flops, precision = self._tokens, 0.0, None
        if self._meter is not None:
            s = self._meter.snapshot()
            tokens, flops, precision = tokens or s.tokens, float(s.flops or 0.0), s.precision
        latest = dict(rec.latest) if rec is not None else {}
        uuids = rec.device_uuids if rec is not None else {}
        named = {"project": "project", "strategy": "strategy", "hostname": "host"}
        labels = {"run_id": self.id, "instance_type": str(o.instance or "")}
        labels |= {label: str(values.get(key) or "") for label, key in named.items()}
        return {
            "labels": labels,
            "tokens": int(tokens or 0),
            "flops": flops,
            "precision": precision,
            "devices": [(i, uuids.get(i, ""), r) for i, r in sorted(latest.items()) if i >= 0],
            "host": latest.get(-1),
            "cpu_energy_j": rec.cpu_energy_j if rec is not None else None,
        }

    def request_stop(self, reason: str) -> None:
        """Stop the training gracefully, as a SIGTERM would; the run is saved as ``stopped``."""
        self.stop_reason = reason
        signals.request_stop(self)

    def _progress(self) -> dict[str, Any]:
        """This rank's counts and the run's facts (called from the recorder thread)."""
        trainer = dict(self._trainer)
        trainer.pop("start", None)
        steps = self._steps or trainer.pop("steps", 0)
        out: dict[str, Any] = {
            "steps": steps,
            "samples": self._samples,
            "tokens": self._tokens,
            "tokens_real": self._tokens,
            "flops": 0.0,
            **trainer,
        }
        if self._meter is not None:
            s = self._meter.snapshot()
            out.update(self._inferred(s.model_facts))
            out.update(
                steps=steps or s.steps,
                samples=self._samples or s.samples,
                tokens=self._tokens or s.tokens,
                tokens_real=self._tokens or s.tokens_real,
                flops=float(s.flops or 0.0),
                flops_per_step=s.flops_per_step,
                params_total=s.params_total,
                params_trainable=s.params_trainable,
                precision=s.precision,
            )
        if self._metrics_json is not None:
            out["metrics_json"] = self._metrics_json
        if self.expected_steps:
            out["expected_steps"] = self.expected_steps
        return out

    def _inferred(self, facts: dict | None) -> dict[str, Any]:
        """Run columns from what the model showed: the inference and its basis always recorded
        (``inferred_json``), its values used only where the user declared nothing."""
        if not facts:
            return {}
        out: dict[str, Any] = {"inferred_json": json.dumps(facts, sort_keys=True)}
        if not self.options.strategy and "strategy" in facts:
            out["strategy"] = facts["strategy"]["value"]
        if not self.options.base_model and "base_model" in facts:
            out["base_model"] = facts["base_model"]["value"]
        return out

    def end(
        self,
        status: str | None = None,
        exc: BaseException | None = None,
        exit_code: int | None = None,
        timeout_s: float = NORMAL_END_TIMEOUT_S,
    ) -> None:
        """Stop recording with a status (derived from ``exc`` when not given); never raises."""
        with self._lock:
            if self._ended:  # ending already (maybe SIGTERM arrived mid-end): let it finish
                if self._recorder is not None:
                    self._recorder.wait(timeout_s)
                return
            self._ended = True
        try:
            self._end(status or status_for(exc), exit_code, timeout_s)
        except Exception as err:
            log_once("end", err)

    def _end(self, status: str, exit_code: int | None, timeout_s: float) -> None:
        self.status = status
        signals.unregister(self)
        if self._monitor is not None:
            safe_call(self._monitor.stop, "live")
        if self._meter is not None:
            safe_call(self._meter.uninstall, "flops")
        if self._attach is not None:
            safe_call(self._attach.uninstall, "frameworks")
        rec = self._recorder
        if rec is None:
            return
        final: dict[str, Any] = {}
        if rec.is_owner:
            final = {"status": status, "ended_at": utcnow()}
            if exit_code is not None:
                final["exit_code"] = exit_code
            if status == "stopped" and self.stop_reason:
                final["stop_reason"] = self.stop_reason
        if self._metrics_json is not None:
            final["metrics_json"] = self._metrics_json
        rec.finish(final, timeout_s=timeout_s)
        live = self.options.live
        if rec.is_owner and live.extensions.on_end is not None:
            on_end = live.extensions.on_end
            safe_call(lambda: on_end(self.id, self.options.db), "report")
        if rec.is_owner and not (config.QUIET.safe_get() or live.quiet):
            safe_call(lambda: sys.stderr.write(self.summary() + "\n"), "summary")

    def summary(self) -> str:
        """Duration, steps, FLOPs, achieved FLOP/s, device-hours, cost, utilisation, energy."""
        return summary_text(
            run_id=self.id,
            status=self.status,
            duration_s=time.monotonic() - self._t0,
            progress=self._progress(),
            dist=self.dist,
            recorder=self._recorder,
            rate=self._monitor.rate if self._monitor is not None else None,
        )


__all__ = ["ProfiledRun", "exit_code_for", "status_for"]
