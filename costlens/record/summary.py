"""The end-of-run text on stderr: duration, steps, FLOPs, device-hours, cost, utilisation,
energy."""

from __future__ import annotations

from typing import Any

from costlens.core.hours import GPU, HOURS_LABEL, device_hours, device_kind
from costlens.core.units import J_PER_KWH, S_PER_H
from costlens.record.live import HourlyRate, usd
from costlens.record.telemetry import ENERGY_POWER_INTEGRAL


def cost_line(run_id: str, duration_s: float, rate: HourlyRate | None) -> str:
    """The run's cost at the hourly rate resolved while it ran (no price look-up here: the end
    of a run never waits for the price tables)."""
    if rate is None:
        return f"  cost not priced here (`costlens cost {run_id[:12]}` prices it)"
    where = f" ({rate.label})" if rate.label else ""
    cost = rate.usd_per_hour * duration_s / S_PER_H
    return f"  cost {usd(cost)} at {usd(rate.usd_per_hour)} per hour{where}"


def energy_line(rec: Any, kind: str) -> str:
    """GPU energy (measured) and host CPU energy (measured or an estimate), each named."""
    parts = []
    if rec and rec.energy_j is not None:
        how = " from power" if rec.energy_source == ENERGY_POWER_INTEGRAL else ""
        parts.append(f"GPU {rec.energy_j / J_PER_KWH:.4f} kWh{how}")
    elif kind == GPU:
        parts.append("GPU not measured")
    cpu_j = getattr(rec, "cpu_energy_j", None)
    if cpu_j is not None:
        basis = getattr(rec, "cpu_energy_basis", None)
        parts.append(f"host CPU {cpu_j / J_PER_KWH:.4f} kWh" + (f" ({basis})" if basis else ""))
    return "  energy " + ("; ".join(parts) if parts else "not measured")


def summary_text(
    *,
    run_id: str,
    status: str | None,
    duration_s: float,
    progress: dict[str, Any],
    dist: Any,
    recorder: Any,
    rate: HourlyRate | None = None,
) -> str:
    """One block: what a run did (``progress`` is this rank's counts, ``recorder`` its writer,
    ``rate`` the hourly rate the live thread resolved, None when unpriced)."""
    rec = recorder
    p = progress
    flops = float(p.get("flops") or 0.0)
    gpus = len(rec.device_names) * dist.nodes if rec else 0
    lines = [f"costlens: run {run_id[:12]} {status} in {duration_s:.1f} s"]
    who = (
        f" (rank 0 of {dist.world_size}; the store sums all ranks)" if (dist.world_size > 1) else ""
    )
    lines.append(f"  steps {p.get('steps', 0):,}{who}")
    if flops > 0:
        lines.append(f"  FLOPs {flops:.3g}, achieved {flops / max(duration_s, 1e-9):.3g} FLOP/s")
    else:
        lines.append("  FLOPs not measured")
    kind = device_kind(rec.device_names[0] if gpus and rec else None, gpus)
    hours = device_hours(duration_s, gpus, kind)
    if kind == GPU and rec:
        lines.append(f"  {HOURS_LABEL[kind]} {hours:.4f} ({gpus} x {rec.device_names[0]})")
    else:
        lines.append(f"  {HOURS_LABEL[kind]} {hours:.4f} (CPU only: no GPU seen)")
    lines.append(cost_line(run_id, duration_s, rate))
    if kind == GPU and rec:
        util = f"{rec.util_sum / rec.util_n:.0f}%" if rec.util_n else "not reported"
        lines.append(f"  average GPU utilisation {util}")
    lines.append(energy_line(rec, kind))
    # Where the store did not take the run, the recorder has said so already (one warning,
    # true when printed, naming the journal); the summary does not repeat it.
    return "\n".join(lines)
