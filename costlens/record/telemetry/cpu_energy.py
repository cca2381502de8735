"""Host CPU energy: measured from RAPL where it is readable, else estimated from a dated table.

- **RAPL** (``/sys/class/powercap/intel-rapl:N/energy_uj``, Intel and, since Linux 5.8, AMD): the
  package counters of every socket, in microjoules, each wrapping at its ``max_energy_range_uj``.
  Sub-domains (``intel-rapl:N:M``: cores, uncore, DRAM) are parts of a package and are not added
  again. The energy is the machine's packages', whatever else runs on them.
- **Estimate** (``data/cpu_power.csv``), CodeCarbon's "process" CPU-load model: the training's
  process tree is given its share of the package power, ``TDP x sockets x cpu% / (100 x logical
  CPUs)``, integrated over the samples. A CPU model missing from the table gets the table's
  ``default`` row (W per logical CPU). The basis is recorded as ``estimate``; the figure is an
  estimate, not a measurement.

This module is on the hot path (the sampler thread): no pandas, nothing that can raise into the
training. A table it cannot read gives no estimate, and the reason is kept for the summary.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from costlens.core.paths import data_dir
from costlens.core.units import UJ_PER_J

CPU_POWER_FILE = "cpu_power.csv"
BASIS_RAPL = "rapl"
BASIS_ESTIMATE = "estimate"
_RAPL_ROOT = Path("/sys/class/powercap")
_PACKAGE_DIR = re.compile(r"^intel-rapl:\d+$")  # a package; intel-rapl:0:0 is a sub-domain of it


class RaplCounter:
    """Cumulative package energy in J since construction, over counter wraparounds."""

    def __init__(self, root: Path = _RAPL_ROOT) -> None:
        self._files: list[tuple[Path, int]] = []
        self._last: list[int] = []
        self.energy_j = 0.0
        if not root.is_dir():
            return
        for d in sorted(root.iterdir()):
            if not _PACKAGE_DIR.match(d.name):
                continue
            try:
                wrap = int((d / "max_energy_range_uj").read_text().strip() or 0)
                first = int((d / "energy_uj").read_text().strip())
            except (OSError, ValueError):  # unreadable (root only on most distributions)
                continue
            self._files.append((d / "energy_uj", wrap))
            self._last.append(first)

    @property
    def available(self) -> bool:
        return bool(self._files)

    def read(self) -> float:
        """Update and return the energy (J) since construction; a failed read adds nothing."""
        for i, (path, wrap) in enumerate(self._files):
            try:
                now = int(path.read_text().strip())
            except (OSError, ValueError):
                continue
            delta = now - self._last[i]
            if delta < 0:  # the counter wrapped (or was reset): count up to the range, then on
                delta += wrap if wrap > 0 else 0
            if delta > 0:
                self.energy_j += delta / UJ_PER_J
            self._last[i] = now
        return self.energy_j


@dataclass(frozen=True)
class CpuPower:
    """The power of the machine's CPU packages at full load, and where the figure comes from."""

    package_w: float
    cpu_model: str
    source: str


def cpu_facts() -> tuple[str, int]:
    """(the CPU model as the kernel names it, physical packages) from one read of
    ``/proc/cpuinfo``; the platform's name and 1 package when it cannot be read."""
    model, sockets = "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
                elif key.strip() == "physical id":
                    sockets.add(value.strip())
    except OSError:
        pass
    if not model:
        import platform

        model = platform.processor() or ""
    return model, max(len(sockets), 1)


def _normalise(name: str) -> str:
    name = re.sub(r"\((?:R|TM)\)", " ", name, flags=re.IGNORECASE)
    name = name.split("@", 1)[0]
    return " ".join(name.replace(" CPU", " ").split())


def _positive(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def cpu_power(
    model: str, logical_cpus: int, sockets: int = 1, table: Path | None = None
) -> CpuPower:
    """The full-load package power for ``model``: its row's TDP x sockets, else the ``default``
    row's W per logical CPU x ``logical_cpus``. Raises ValueError when the table has neither."""
    path = table or data_dir() / CPU_POWER_FILE
    wanted = _normalise(model)
    default: CpuPower | None = None
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            key = (row.get("cpu_model") or "").strip()
            source = (row.get("source") or "").strip()
            if key.lower() == "default":
                per_thread = _positive(row.get("w_per_thread") or "")
                if per_thread is not None:
                    default = CpuPower(per_thread * max(logical_cpus, 1), model, source)
                continue
            tdp = _positive(row.get("tdp_w") or "")
            pattern = r"(?<![\w+])" + re.escape(key) + r"(?![\w+])"
            if key and tdp is not None and re.search(pattern, wanted, re.IGNORECASE):
                return CpuPower(tdp * max(sockets, 1), model, source)
    if default is None:
        raise ValueError(f"{path}: no row for CPU {model!r} and no usable 'default' row")
    return default


class CpuEnergyMeter:
    """Integrates host CPU energy sample by sample: RAPL when readable, else the estimate."""

    def __init__(self, rapl_root: Path = _RAPL_ROOT, table: Path | None = None) -> None:
        self._rapl = RaplCounter(rapl_root)
        self._power: CpuPower | None = None
        self.problem: str | None = None
        self._logical = os.cpu_count() or 1
        if not self._rapl.available:
            try:
                model, sockets = cpu_facts()
                self._power = cpu_power(model, self._logical, sockets, table)
            except (OSError, ValueError, csv.Error) as exc:
                self.problem = f"no CPU energy estimate: {exc}"
        self._t_last: float | None = None
        self._estimate_j = 0.0

    @property
    def basis(self) -> str | None:
        if self._rapl.available:
            return BASIS_RAPL
        return BASIS_ESTIMATE if self._power is not None else None

    def update(self, t_unix_s: float, process_cpu_pct: float | None) -> None:
        """One sample: read RAPL, or add the estimated power over the time since the last one."""
        if self._rapl.available:
            self._rapl.read()
            return
        if self._power is None:
            return
        if self._t_last is not None and process_cpu_pct is not None and t_unix_s > self._t_last:
            share = min(max(process_cpu_pct, 0.0) / (100.0 * self._logical), 1.0)
            self._estimate_j += self._power.package_w * share * (t_unix_s - self._t_last)
        self._t_last = t_unix_s

    def energy(self) -> tuple[float | None, str | None]:
        """(J so far, basis); (None, None) when neither RAPL nor an estimate is available."""
        if self._rapl.available:
            return self._rapl.energy_j, BASIS_RAPL
        if self._power is None:
            return None, None
        return self._estimate_j, BASIS_ESTIMATE
