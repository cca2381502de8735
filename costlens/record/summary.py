"""The end-of-run text on stderr: duration, steps, FLOPs, GPU-hours, utilisation, energy."""

from __future__ import annotations

from typing import Any

from costlens.core.units import J_PER_KWH, S_PER_H
from costlens.record.telemetry import ENERGY_POWER_INTEGRAL


def summary_text(
    *,
    run_id: str,
    status: str | None,
    duration_s: float,
    progress: dict[str, Any],
    dist: Any,
    recorder: Any,
) -> str:
    """One block: what a run did (``progress`` is this rank's counts, ``recorder`` its writer)."""
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
    if gpus and rec:
        lines.append(
            f"  GPU-hours {gpus * duration_s / S_PER_H:.4f} ({gpus} x {rec.device_names[0]})"
        )
        util = f"{rec.util_sum / rec.util_n:.0f}%" if rec.util_n else "not reported"
        lines.append(f"  average GPU utilisation {util}")
    else:
        lines.append("  GPU-hours 0 (no GPU seen)")
    if rec and rec.energy_j is not None:
        how = " (from power)" if rec.energy_source == ENERGY_POWER_INTEGRAL else ""
        lines.append(f"  energy {rec.energy_j / J_PER_KWH:.4f} kWh{how}")
    else:
        lines.append("  energy not measured")
    # Where the store did not take the run, the recorder has said so already (one warning,
    # true when printed, naming the journal); the summary does not repeat it.
    return "\n".join(lines)
