"""The host: CPU % and resident memory of the training's process tree (psutil, non-blocking),
and the host CPU's energy (:mod:`costlens.record.telemetry.cpu_energy`)."""

from __future__ import annotations

import os
from typing import Any

from costlens.record.telemetry.base import Reading, Sampler


class HostSampler(Sampler):
    """CPU % and resident memory of a process tree, without blocking (``interval=None``)."""

    kind = "host"

    def __init__(self, root_pid: int | None = None) -> None:
        import psutil

        self._psutil = psutil
        self._root_pid = root_pid or os.getpid()
        self._procs: dict[int, Any] = {}
        self._cpu_energy: Any = None  # made on the first sample: on the sampler thread

    def cpu_energy(self) -> tuple[float | None, str | None]:
        return self._cpu_energy.energy() if self._cpu_energy is not None else (None, None)

    def _tree(self) -> list[Any]:
        ps = self._psutil
        try:
            root = self._procs.get(self._root_pid) or ps.Process(self._root_pid)
            procs = [root, *root.children(recursive=True)]
        except (ps.Error, OSError):
            return list(self._procs.values())
        fresh = {}
        for p in procs:
            fresh[p.pid] = self._procs.get(p.pid, p)  # keep the object: it holds cpu_percent state
        self._procs = fresh
        return list(fresh.values())

    def sample(self, t_unix_s: float) -> list[Reading]:
        ps = self._psutil
        cpu = 0.0
        rss = 0
        seen = False
        for p in self._tree():
            try:
                with p.oneshot():
                    cpu += p.cpu_percent(interval=None)
                    rss += p.memory_info().rss
                seen = True
            except (ps.Error, OSError):
                continue
        self._update_energy(t_unix_s, cpu if seen else None)
        if not seen:
            return [Reading(device_index=-1)]
        return [Reading(device_index=-1, host_cpu_pct=round(cpu, 2), host_ram_bytes=rss)]

    def _update_energy(self, t_unix_s: float, cpu_pct: float | None) -> None:
        if self._cpu_energy is None:
            from costlens.record.telemetry.cpu_energy import CpuEnergyMeter

            self._cpu_energy = CpuEnergyMeter()
        self._cpu_energy.update(t_unix_s, cpu_pct)


def host_facts() -> dict[str, int | None]:
    """``host_cpu_count`` (logical CPUs) and ``host_ram_total_bytes`` of this machine."""
    try:
        import psutil

        ram = int(psutil.virtual_memory().total)
    except Exception:
        ram = None
    return {"host_cpu_count": os.cpu_count(), "host_ram_total_bytes": ram}
