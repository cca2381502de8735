"""The run's live figures as metrics: what ``/metrics`` (Prometheus) and OTLP (OpenTelemetry)
serve, read from the run's memory (the live thread's figures and the recorder's latest
readings), never from the store.

Pure apart from :class:`MetricsFeed`, which keeps the rates between two reads. Names follow
Prometheus's conventions (base units, ``_total`` on counters, ``_usd``, ``_joules``, ``_bytes``,
``_ratio``); each :class:`Metric` carries its OpenTelemetry name too (the semantic conventions'
``hw.*`` where one exists, ``costlens.*`` otherwise). ``docs/metrics.md`` lists them with the
DCGM fields they correspond to. The servers are :mod:`costlens.record.exporters`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from costlens.core.units import MJ_PER_J
from costlens.record.live import StepRate

COUNTER, GAUGE = "counter", "gauge"


@dataclass(frozen=True)
class Metric:
    """One metric family: Prometheus ``name`` (a counter's without ``_total``: the client adds
    it), OpenTelemetry ``otel_name`` and ``unit`` (UCUM), ``kind``, ``help`` and its samples
    (labels, value)."""

    name: str
    otel_name: str
    unit: str
    kind: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)


@dataclass
class RunSnapshot:
    """The run now, as the metrics need it. ``devices``: (index, uuid, reading) per GPU;
    ``host``: the host reading (CPU cores busy, resident bytes); money None when unpriced."""

    labels: dict[str, str]
    elapsed_s: float
    steps: int
    tokens: int
    flops: float
    steps_per_s: float | None = None
    tokens_per_s: float | None = None
    flops_per_s: float | None = None
    mfu: float | None = None
    cost_usd: float | None = None
    usd_per_hour: float | None = None
    projected_usd: float | None = None
    max_usd: float | None = None
    devices: list[tuple[int, str, Any]] = field(default_factory=list)
    host: Any = None
    cpu_energy_j: float | None = None


def _one(labels: dict[str, str], value: float | None) -> list[tuple[dict[str, str], float]]:
    return [] if value is None else [(labels, float(value))]


def _family(name: str, otel: str, unit: str, kind: str, help: str, samples: list) -> Metric:
    return Metric(name, otel, unit, kind, help, samples)


def _run_families(s: RunSnapshot) -> list[Metric]:
    L = s.labels
    return [
        _family("costlens_run_elapsed_seconds", "costlens.run.duration", "s", GAUGE,
                "Seconds since the run started.", _one(L, s.elapsed_s)),
        _family("costlens_cost_usd", "costlens.run.cost", "USD", COUNTER,
                "Billed so far at the run's hourly rate (USD).", _one(L, s.cost_usd)),
        _family("costlens_cost_usd_per_hour", "costlens.run.cost.rate", "USD/h", GAUGE,
                "The run's hourly rate (all its billed instances, USD per hour).",
                _one(L, s.usd_per_hour)),
        _family("costlens_projected_cost_usd", "costlens.run.cost.projected", "USD", GAUGE,
                "Cost at the end of the expected steps at the recent step rate (USD).",
                _one(L, s.projected_usd)),
        _family("costlens_spend_limit_usd", "costlens.run.cost.limit", "USD", GAUGE,
                "The spend guard's limit (--max-usd).", _one(L, s.max_usd)),
        _family("costlens_steps", "costlens.steps", "{step}", COUNTER,
                "Training steps taken.", _one(L, s.steps)),
        _family("costlens_steps_per_second", "costlens.steps.rate", "{step}/s", GAUGE,
                "Steps per second over the last 30 s.", _one(L, s.steps_per_s)),
        _family("costlens_tokens", "costlens.tokens", "{token}", COUNTER,
                "Tokens trained on.", _one(L, s.tokens)),
        _family("costlens_tokens_per_second", "costlens.tokens.rate", "{token}/s", GAUGE,
                "Tokens per second over the last 30 s.", _one(L, s.tokens_per_s)),
        _family("costlens_flops_per_second", "costlens.flops.rate", "{flop}/s", GAUGE,
                "Executed model FLOP/s over the last 30 s (all devices).",
                _one(L, s.flops_per_s)),
        _family("costlens_mfu_ratio", "costlens.mfu", "1", GAUGE,
                "Model FLOPs utilisation over the last 30 s (0-1; peak from the dated spec "
                "table at the run's precision).", _one(L, s.mfu)),
    ]  # fmt: skip


def _device_families(s: RunSnapshot) -> list[Metric]:
    util, mem, power, energy = [], [], [], []
    for index, uuid, r in s.devices:
        labels = {**s.labels, "gpu": str(index), "uuid": uuid, "hw_type": "gpu"}
        if r.gpu_util_pct is not None:
            util.append((labels, r.gpu_util_pct / 100.0))
        if r.mem_used_bytes is not None:
            mem.append((labels, float(r.mem_used_bytes)))
        if r.power_w is not None:
            power.append((labels, float(r.power_w)))
        if r.energy_mj is not None:
            energy.append((labels, r.energy_mj / MJ_PER_J))
    host_cores = s.host.host_cpu_pct / 100.0 if s.host and s.host.host_cpu_pct is not None else None
    host_rss = s.host.host_ram_bytes if s.host is not None else None
    return [
        _family("costlens_gpu_utilization_ratio", "hw.gpu.utilization", "1", GAUGE,
                "GPU utilisation (0-1; DCGM_FI_DEV_GPU_UTIL / 100).", util),
        _family("costlens_gpu_memory_used_bytes", "hw.gpu.memory.usage", "By", GAUGE,
                "GPU memory in use (DCGM_FI_DEV_FB_USED, in bytes).", mem),
        _family("costlens_gpu_power_watts", "hw.power", "W", GAUGE,
                "GPU power draw (DCGM_FI_DEV_POWER_USAGE).", power),
        _family("costlens_gpu_energy_joules", "hw.energy", "J", COUNTER,
                "GPU energy since the run started (DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION, in J).",
                energy),
        _family("costlens_host_cpu_cores", "costlens.host.cpu.usage", "{cpu}", GAUGE,
                "CPU cores busy with the training's processes (1 = one core).",
                _one(s.labels, host_cores)),
        _family("costlens_host_memory_bytes", "costlens.host.memory.usage", "By", GAUGE,
                "Resident memory of the training's processes.", _one(s.labels, host_rss)),
        _family("costlens_host_cpu_energy_joules", "costlens.host.cpu.energy", "J", COUNTER,
                "Host CPU energy since the run started (RAPL, else CodeCarbon's load model).",
                _one(s.labels, s.cpu_energy_j)),
    ]  # fmt: skip


def run_metrics(s: RunSnapshot) -> list[Metric]:
    """Every metric family of a run (a family without a value has no samples)."""
    return _run_families(s) + _device_families(s)


class MetricsFeed:
    """Snapshots of one run for the exporters: read on their threads, from memory only.

    ``run`` is a :class:`costlens.record.monitor.LiveSource` with ``metric_facts()``;
    ``monitor`` the live thread (its latest figures and rate). A lock keeps the rates of two
    concurrent scrapes apart; the training thread never takes it."""

    def __init__(self, run: Any, monitor: Any) -> None:
        self.run = run
        self.monitor = monitor
        self._lock = threading.Lock()
        self._steps = StepRate()
        self._tokens = StepRate()
        self._flops = StepRate()
        self.peak_of: Any = None  # precision -> per-device peak FLOP/s (set once priced)

    def snapshot(self) -> RunSnapshot:
        facts = self.run.metric_facts()
        elapsed = self.run.elapsed_s()
        steps, _ = self.run.live_counts()
        with self._lock:
            steps_rate = self._steps.update(elapsed, steps)
            tokens_rate = self._tokens.update(elapsed, int(facts["tokens"]))
            flops_rate = self._flops.update(elapsed, int(facts["flops"]))
        fig, rate = self.monitor.last, self.monitor.rate
        devices = facts["devices"]
        peak = self.peak_of(facts.get("precision")) if self.peak_of is not None else None
        n = len(devices)
        mfu = flops_rate / (peak * n) if flops_rate and peak and n else None
        return RunSnapshot(
            labels=facts["labels"],
            elapsed_s=elapsed,
            steps=steps,
            tokens=int(facts["tokens"]),
            flops=float(facts["flops"]),
            steps_per_s=steps_rate,
            tokens_per_s=tokens_rate,
            flops_per_s=flops_rate,
            mfu=mfu,
            cost_usd=fig.cost_usd if fig is not None else None,
            usd_per_hour=rate.usd_per_hour if rate is not None else None,
            projected_usd=fig.projected_usd if fig is not None else None,
            max_usd=self.monitor.options.max_usd,
            devices=devices,
            host=facts.get("host"),
            cpu_energy_j=facts.get("cpu_energy_j"),
        )

    def metrics(self) -> list[Metric]:
        return run_metrics(self.snapshot())
