"""NVIDIA GPUs through NVML (pynvml), probed lazily, once (never at import).

Without a driver the probe says so once at INFO level and GPU telemetry is simply off. NVML errors
are mapped where they enter: a device refusing one query gives None for that field, never a dead
sampler, and never a made-up 0.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from costlens.core.units import MJ_PER_J, MW_PER_W
from costlens.record.telemetry.base import ENERGY_COUNTER, ENERGY_POWER_INTEGRAL, Reading, Sampler

log = logging.getLogger("costlens")
# A MIG device's name ends in its profile (NVML: "returns MIG device names", e.g. "... MIG 1g.5gb")
_MIG_PROFILE_RE = re.compile(r"\bMIG\s+(\d+g\.\d+gb(?:\+me)?)\b", re.IGNORECASE)


@lru_cache(maxsize=1)
def probe_nvml() -> Any | None:
    """The initialised ``pynvml`` module, or None (said once at INFO level). Probed once."""
    try:
        import pynvml
    except ImportError:
        log.info("costlens: pynvml is not installed; GPU telemetry is off (host telemetry goes on)")
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        log.info("costlens: no NVIDIA driver (%s); GPU telemetry is off (host goes on)", exc)
        return None
    except Exception as exc:  # a broken library: same outcome, never a crash
        log.info("costlens: NVML failed to start (%s); GPU telemetry is off", exc)
        return None
    return pynvml


def mig_profile_of(name: str | None) -> str | None:
    """The MIG profile in a device name (``NVIDIA A100-SXM4-40GB MIG 1g.5gb`` -> ``1g.5gb``)."""
    m = _MIG_PROFILE_RE.search(name or "")
    return m.group(1).lower() if m else None


def container_device_ids(env: str | None = None) -> list[str] | None:
    """``NVIDIA_VISIBLE_DEVICES`` (the container runtime's): its UUIDs, [] for ``none``; None for
    unset, ``all``, ``void`` or indices (the runtime already shows the container only those, under
    indices of its own, so NVML's whole list is the process's)."""
    raw = os.environ.get("NVIDIA_VISIBLE_DEVICES") if env is None else env
    text = (raw or "").strip().lower()
    if text in ("", "all", "void"):
        return None
    if text == "none":
        return []
    items = [i.strip() for i in (raw or "").split(",") if i.strip()]
    return items if all(i.startswith(("GPU-", "MIG-")) for i in items) else None


def visible_device_ids(env: str | None = None) -> list[str] | None:
    """``CUDA_VISIBLE_DEVICES`` as a list of indices or UUIDs (GPU-..., MIG-...); when unset,
    :func:`container_device_ids`; None when neither restricts the devices.

    Like CUDA, the list stops at the first invalid entry; "" or "-1" hides every device.
    """
    raw = os.environ.get("CUDA_VISIBLE_DEVICES") if env is None else env
    if raw is None:
        return container_device_ids()
    out: list[str] = []
    for item in raw.split(","):
        item = item.strip()
        if not item:
            break
        if item.isdigit() or item.startswith(("GPU-", "MIG-")):
            out.append(item)
        else:
            break
    return out


@dataclass
class _Device:
    index: int  # NVML index of the physical device (or of the parent of a MIG instance)
    handle: Any
    name: str
    energy_start_mj: int | None = None
    energy_last_mj: int | None = None
    has_counter: bool = True
    integral_mj: float = 0.0
    integrating: bool = False
    last_power: tuple[float, float] | None = None  # (t_unix_s, W)
    refused: set[str] = field(default_factory=set)
    mig_profile: str | None = None  # a MIG slice's profile (its name is then its parent GPU's)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class NvmlSampler(Sampler):
    """The GPUs this process may use (``CUDA_VISIBLE_DEVICES`` respected, MIG tolerated)."""

    kind = "nvml"

    def __init__(self, nvml: Any | None = None, visible: list[str] | None = None) -> None:
        self._nv = nvml if nvml is not None else probe_nvml()
        self._devices: list[_Device] = []
        if self._nv is None:
            return
        ids = visible if visible is not None else visible_device_ids()
        self._devices = self._open(ids)

    @property
    def available(self) -> bool:
        return bool(self._devices)

    def _call(self, dev: _Device | None, what: str, fn: Any, *args: Any) -> Any:
        """One NVML call; an NVML error becomes None (logged once per device and query)."""
        try:
            return fn(*args)
        except self._nv.NVMLError as exc:
            if dev is not None and what not in dev.refused:
                dev.refused.add(what)
                log.debug("costlens: GPU %s refuses %s (%s)", dev.index, what, exc)
            return None

    def _open(self, ids: list[str] | None) -> list[_Device]:
        nv = self._nv
        count = self._call(None, "count", nv.nvmlDeviceGetCount)
        if not count:
            return []
        handles: list[tuple[int, Any]] = []
        if ids is None:
            for i in range(int(count)):
                h = self._call(None, "handle", nv.nvmlDeviceGetHandleByIndex, i)
                if h is not None:
                    handles.append((i, h))
        else:
            for ident in ids:
                if ident.isdigit():
                    if int(ident) >= int(count):
                        continue
                    h = self._call(None, "handle", nv.nvmlDeviceGetHandleByIndex, int(ident))
                    idx = int(ident)
                else:
                    h = self._call(None, "handle", nv.nvmlDeviceGetHandleByUUID, ident)
                    idx = self._index_of(h)
                if h is not None:
                    handles.append((idx, h))
        devices = []
        for idx, h in handles:
            name = self._call(None, "name", nv.nvmlDeviceGetName, h)
            dev = _Device(index=idx, handle=h, name=_text(name) if name else "NVIDIA GPU")
            is_mig = getattr(nv, "nvmlDeviceIsMigDeviceHandle", None)  # NVML 11+
            if is_mig is not None and self._call(None, "is_mig", is_mig, h):
                self._as_slice(dev)
            devices.append(dev)
        return devices

    def _as_slice(self, dev: _Device) -> None:
        """A MIG slice: its profile from its MIG name, and its parent GPU's name (the name the
        price tables know); its share of the GPU is priced later (``data/mig_profiles.csv``)."""
        nv = self._nv
        dev.mig_profile = mig_profile_of(dev.name)
        parent = self._call(
            None, "parent", nv.nvmlDeviceGetDeviceHandleFromMigDeviceHandle, dev.handle
        )
        parent_name = self._call(None, "name", nv.nvmlDeviceGetName, parent) if parent else None
        if parent_name:
            dev.name = _text(parent_name)

    def _index_of(self, handle: Any) -> int:
        if handle is None:
            return -1
        nv = self._nv
        idx = self._call(None, "index", nv.nvmlDeviceGetIndex, handle)
        if idx is None:  # a MIG instance: report its parent's index
            parent = self._call(
                None, "parent", nv.nvmlDeviceGetDeviceHandleFromMigDeviceHandle, handle
            )
            idx = self._call(None, "index", nv.nvmlDeviceGetIndex, parent) if parent else None
        return int(idx) if isinstance(idx, int) else -1

    def device_names(self) -> list[str]:
        return [d.name for d in self._devices]

    def device_uuids(self) -> dict[int, str]:
        get = getattr(self._nv, "nvmlDeviceGetUUID", None)
        if get is None:
            return {}
        out = {}
        for d in self._devices:
            uuid = self._call(d, "uuid", get, d.handle)
            if uuid:
                out[d.index] = _text(uuid)
        return out

    def mig_profile(self) -> str | None:
        profiles = {d.mig_profile for d in self._devices}
        return profiles.pop() if len(profiles) == 1 else None

    def sample(self, t_unix_s: float) -> list[Reading]:
        nv = self._nv
        out = []
        for d in self._devices:
            util = self._call(d, "utilization", nv.nvmlDeviceGetUtilizationRates, d.handle)
            mem = self._call(d, "memory", nv.nvmlDeviceGetMemoryInfo, d.handle)
            power_mw = self._call(d, "power", nv.nvmlDeviceGetPowerUsage, d.handle)
            clock = self._call(d, "sm_clock", nv.nvmlDeviceGetClockInfo, d.handle, nv.NVML_CLOCK_SM)
            temp = self._call(
                d, "temperature", nv.nvmlDeviceGetTemperature, d.handle, nv.NVML_TEMPERATURE_GPU
            )
            power_w = _num(power_mw) / MW_PER_W if _num(power_mw) is not None else None
            out.append(
                Reading(
                    device_index=d.index,
                    gpu_util_pct=_num(getattr(util, "gpu", None)) if util is not None else None,
                    mem_used_bytes=_int(getattr(mem, "used", None)) if mem is not None else None,
                    mem_total_bytes=_int(getattr(mem, "total", None)) if mem is not None else None,
                    power_w=power_w,
                    energy_mj=self._energy_mj(d, t_unix_s, power_w),
                    sm_clock_mhz=_int(clock),
                    temperature_c=_int(temp),
                )
            )
        return out

    def _energy_mj(self, d: _Device, t_unix_s: float, power_w: float | None) -> int | None:
        """Energy since the first sample: the counter where the device has one, else power x dt."""
        if d.has_counter:
            counter = self._call(
                d, "energy", self._nv.nvmlDeviceGetTotalEnergyConsumption, d.handle
            )
            counter = _int(counter)
            if counter is not None:
                if d.energy_start_mj is None:
                    d.energy_start_mj = counter
                d.energy_last_mj = counter
            elif d.energy_start_mj is None:  # never had a reading: no counter on this device
                d.has_counter = False
        if not d.has_counter:
            if power_w is not None:
                if d.last_power is not None:
                    t0, p0 = d.last_power
                    d.integral_mj += max(t_unix_s - t0, 0.0) * (p0 + power_w) / 2 * 1000.0
                d.integrating = True
                d.last_power = (t_unix_s, power_w)
            return int(d.integral_mj) if d.integrating else None
        if d.energy_last_mj is None or d.energy_start_mj is None:
            return None
        return d.energy_last_mj - d.energy_start_mj

    def energy(self) -> tuple[float | None, str | None]:
        if not self._devices:
            return None, None
        total_mj = 0.0
        sources = set()
        for d in self._devices:
            if d.has_counter and d.energy_start_mj is not None and d.energy_last_mj is not None:
                total_mj += d.energy_last_mj - d.energy_start_mj
                sources.add(ENERGY_COUNTER)
            elif d.integrating:
                total_mj += d.integral_mj
                sources.add(ENERGY_POWER_INTEGRAL)
            else:  # neither a counter nor a power reading: unknown, never 0 J
                return None, None
        return total_mj / MJ_PER_J, "+".join(sorted(sources))

    def close(self) -> None:
        self._devices = []


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
