"""Telemetry samplers behind one small class: NVML GPUs, the host (psutil), and a do-nothing one.

One file each, like Zeus's ``zeus/device/gpu/``: ``base`` (:class:`Reading`, :class:`Sampler`,
:class:`NullSampler`), ``nvml`` (:class:`NvmlSampler`, probed lazily, never at import) and
``host`` (:class:`HostSampler`, :func:`host_facts`).
"""

from costlens.record.telemetry.base import (
    ENERGY_COUNTER,
    ENERGY_POWER_INTEGRAL,
    NullSampler,
    Reading,
    Sampler,
    now_unix_s,
)
from costlens.record.telemetry.host import HostSampler, host_facts
from costlens.record.telemetry.nvml import NvmlSampler, probe_nvml, visible_device_ids

__all__ = [
    "ENERGY_COUNTER",
    "ENERGY_POWER_INTEGRAL",
    "HostSampler",
    "NullSampler",
    "NvmlSampler",
    "Reading",
    "Sampler",
    "host_facts",
    "now_unix_s",
    "probe_nvml",
    "visible_device_ids",
]
