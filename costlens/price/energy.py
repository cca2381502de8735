"""A run's energy, what it cost, and its CO2e: the GPUs' (NVML) and the host CPU's (RAPL or an
estimate), priced at the electricity rate and weighed at the grid carbon intensity of its region.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from costlens.core.hours import GPU, device_kind
from costlens.core.units import J_PER_KWH, S_PER_H
from costlens.price.tables import PriceTable

if TYPE_CHECKING:
    from costlens.store.models import RunRecord

G_PER_KG = 1000.0


def gpu_energy(
    record: RunRecord, samples: dict[str, Any] | None, seconds: float | None
) -> tuple[float | None, str | None]:
    """(GPU energy in J, where it comes from): the run's own counter, else the samples' counter,
    else mean sampled power x duration; (None, None) without any."""
    energy_j = record.get("energy_j")
    if energy_j is not None:
        return float(energy_j), record.get("energy_source")
    if not samples:
        return None, None
    if samples.get("energy_counter_j"):
        return float(samples["energy_counter_j"]), "samples: NVML energy counter increase"
    if samples.get("power_mean_w_per_device"):
        span = seconds if seconds is not None else samples.get("power_span_s")
        if span:
            return sum(samples["power_mean_w_per_device"]) * span, (
                "samples: mean sampled power x duration"
            )
    return None, None


def _kwh(j: float | None) -> float | None:
    return None if j is None else j / J_PER_KWH


def host_figures(samples: dict[str, Any] | None, seconds: float | None) -> dict[str, Any]:
    """The training process tree's CPU and memory, from the host readings already stored."""
    mean = samples.get("host_cpu_mean_pct") if samples else None
    return {
        "host_cpu_mean_pct": mean,
        "host_cpu_max_pct": samples.get("host_cpu_max_pct") if samples else None,
        "host_ram_peak_bytes": samples.get("host_ram_peak_bytes") if samples else None,
        # CPU-hours the process tree used (100% = one logical CPU busy for the hour)
        "process_cpu_hours": (
            mean / 100.0 * seconds / S_PER_H if mean is not None and seconds is not None else None
        ),
    }


def energy_figures(
    record: RunRecord,
    samples: dict[str, Any] | None,
    seconds: float | None,
    quote: dict[str, Any] | None,
    prices: PriceTable,
    notes: list[str],
) -> dict[str, Any]:
    """GPU and host CPU energy, their sum priced at ``prices.electricity``, and the CO2e at the
    intensity of the run's region (declared, else the priced instance's, else the default)."""
    gpu_j, gpu_source = gpu_energy(record, samples, seconds)
    cpu_j = record.get("cpu_energy_j")
    cpu_basis = record.get("cpu_energy_basis") if cpu_j is not None else None
    parts = [j for j in (gpu_j, cpu_j) if j is not None]
    total_kwh = _kwh(sum(parts)) if parts else None
    if total_kwh is None:
        notes.append("no energy measurement for this run (no energy counter or power samples)")
    else:
        gpu_run = device_kind(record.get("device"), record.get("device_count")) == GPU
        if gpu_j is None and gpu_run:
            notes.append("GPU energy not measured (no energy counter or power samples): the "
                         "energy, its cost and CO2e are the host CPU's only")  # fmt: skip
        if cpu_basis == "estimate":
            notes.append("host CPU energy is an estimate (CPU load x the TDP table), not measured")
    rate = prices.electricity
    provider = record.get("provider") or (quote or {}).get("provider")
    region = record.get("region") or (quote or {}).get("region")
    carbon = prices.carbon.lookup(provider, region)
    co2e_kg = (
        total_kwh * carbon.g_co2e_per_kwh / G_PER_KG
        if total_kwh is not None and carbon is not None
        else None
    )
    return {
        "energy_j": gpu_j,
        "energy_kwh": _kwh(gpu_j),
        "energy_source": gpu_source,
        "cpu_energy_j": cpu_j,
        "cpu_energy_kwh": _kwh(cpu_j),
        "cpu_energy_basis": cpu_basis,
        "total_energy_kwh": total_kwh,
        "electricity_usd_per_kwh": rate.usd_per_kwh,
        "electricity_source": rate.source,
        "electricity_as_of": rate.as_of,
        "energy_cost_usd": None if total_kwh is None else total_kwh * rate.usd_per_kwh,
        "co2e_kg": co2e_kg,
        "carbon_g_co2e_per_kwh": carbon.g_co2e_per_kwh if carbon else None,
        "carbon_region": f"{carbon.provider}/{carbon.region}" if carbon else None,
        "carbon_is_default": carbon.is_default if carbon else None,
        "carbon_source": carbon.source if carbon else None,
        "carbon_as_of": carbon.as_of if carbon else None,
        **host_figures(samples, seconds),
    }
