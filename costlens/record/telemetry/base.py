"""The sampler contract: :class:`Reading` tuples from a :class:`Sampler` (one file per backend).

Each sampler returns readings (one per device; ``device_index`` -1 is the host). ``sample`` is
called from the recorder's thread only and never raises for a device that refuses a query.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import NamedTuple

ENERGY_COUNTER = "nvml_energy_counter"
ENERGY_POWER_INTEGRAL = "nvml_power_integral"


class Reading(NamedTuple):
    """One reading of one device, in ``SAMPLE_COLUMNS`` order after run_id, t_unix_s, node_rank."""

    device_index: int
    gpu_util_pct: float | None = None
    mem_used_bytes: int | None = None
    mem_total_bytes: int | None = None
    power_w: float | None = None
    energy_mj: int | None = None  # energy used by the device since the run started, mJ
    sm_clock_mhz: int | None = None
    temperature_c: int | None = None
    host_cpu_pct: float | None = None  # summed over the process tree, 100 = one core
    host_ram_bytes: int | None = None  # resident set size of the process tree


class Sampler(ABC):
    """A source of readings. ``sample`` is called from the recorder's thread only."""

    kind: str = "none"

    def device_names(self) -> list[str]:
        """Names of the accelerators this sampler reads (empty for host samplers)."""
        return []

    @abstractmethod
    def sample(self, t_unix_s: float) -> list[Reading]:
        """Read every device now; never raises for a device that refuses a query."""

    def device_uuids(self) -> dict[int, str]:
        """Device index -> its UUID (``GPU-...``), where the backend knows it."""
        return {}

    def energy(self) -> tuple[float | None, str | None]:
        """(joules used since the first sample, how they were measured); (None, None) unknown."""
        return None, None

    def mig_profile(self) -> str | None:
        """The MIG profile (``1g.5gb``) when every device it reads is a MIG slice of one
        profile; None on whole GPUs (and host samplers)."""
        return None

    def cpu_energy(self) -> tuple[float | None, str | None]:
        """(host CPU joules since the first sample, ``rapl`` or ``estimate``); (None, None)."""
        return None, None

    def close(self) -> None:  # noqa: B027 (optional hook: most samplers hold nothing)
        """Release the underlying library (idempotent)."""


class NullSampler(Sampler):
    """Reads nothing (ranks that do not sample, or telemetry switched off)."""

    def sample(self, t_unix_s: float) -> list[Reading]:
        return []


def now_unix_s() -> float:
    return time.time()
