"""The one rule for a run's device-hours and the price per device-hour, in GPU or CPU terms.

A run on accelerators is counted in GPU-hours (wall-clock hours x accelerators used) and priced
per GPU-hour. A run on CPU only used no GPU: it is counted in instance-hours (wall-clock hours x
the one host it ran on, the unit CPU-only instances are billed in) and priced per instance-hour;
its GPU-hours are None, not 0 (0 GPU-hours reads as a free GPU run).

The keys every output uses (JSON, CSV, the dashboard): ``device_kind`` ("gpu" or "cpu"),
``device_hours`` (GPU-hours of a GPU run, instance-hours of a CPU run) and ``gpu_hours`` (GPU
runs only; None on a CPU run). :data:`HOURS_LABEL` and :data:`RATE_LABEL` name them for people.

Here, in the foundation, because the profiler's end-of-run summary (hot path), the price tables
and the pricing layer all use it (:mod:`costlens.price` re-uses it; it keeps no copy).
"""

from __future__ import annotations

from typing import Any, Literal

from costlens.core.units import S_PER_H, finite_or_none
from costlens.core.vocab import CPU_KEY

DeviceKind = Literal["gpu", "cpu"]
GPU: DeviceKind = "gpu"
CPU: DeviceKind = "cpu"

HOURS_LABEL: dict[str, str] = {GPU: "GPU-hours", CPU: "instance-hours"}
HOURS_SHORT: dict[str, str] = {GPU: "GPU-h", CPU: "inst-h"}  # table headers and cells
RATE_LABEL: dict[str, str] = {GPU: "per GPU-hour", CPU: "per instance-hour"}


def device_kind(device: Any, device_count: Any) -> DeviceKind:
    """ "cpu" for a run that used no accelerator (no device, no device count, or "CPU"), else
    "gpu"."""
    try:
        count = int(device_count or 0)
    except (TypeError, ValueError):
        count = 0
    if not device or count <= 0 or str(device).upper() == CPU_KEY:
        return CPU
    return GPU


def device_hours(duration_s: float | None, device_count: Any, kind: DeviceKind) -> float | None:
    """GPU-hours (hours x accelerators) of a GPU run, instance-hours (hours x 1 host) of a CPU
    run; None when the duration is unknown."""
    if duration_s is None:
        return None
    devices = int(device_count or 0) if kind == GPU else 1
    return float(duration_s) / S_PER_H * devices


def gpu_hours(duration_s: float | None, device_count: Any, kind: DeviceKind) -> float | None:
    """GPU-hours of a GPU run; None for a CPU run (it used no GPU) or an unknown duration."""
    return device_hours(duration_s, device_count, kind) if kind == GPU else None


def hours_figures(duration_s: float | None, device: Any, device_count: Any) -> dict[str, Any]:
    """``device_kind``, ``device_hours`` and ``gpu_hours`` of a run (the keys every output
    uses)."""
    kind = device_kind(device, device_count)
    return {
        "device_kind": kind,
        "device_hours": device_hours(duration_s, device_count, kind),
        "gpu_hours": gpu_hours(duration_s, device_count, kind),
    }


def usd_per_device_hour(usd_per_hour: Any, gpu_count: Any) -> float | None:
    """An instance's price per device-hour: per GPU-hour (its hourly price / its GPUs) for an
    accelerator instance, per instance-hour (its hourly price) for a CPU-only one; None when the
    hourly price is unknown (None, NaN)."""
    usd = finite_or_none(usd_per_hour)
    if usd is None:
        return None
    count = int(gpu_count or 0)
    return usd / count if count > 0 else usd
