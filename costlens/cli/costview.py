"""`costlens cost RUN_ID` for people: the breakdown in sections, each a few labelled lines.

What ran; what it cost and why; energy; throughput and waste; the same run elsewhere; notes.
Prices of CPU-only instances are per instance-hour (and per vCPU-hour when the row lists vCPUs);
an accelerator instance's per GPU-hour too. ``--format json`` does not come through here.
"""

from __future__ import annotations

from typing import Any

from costlens.cli.tables import Col, print_table
from costlens.core.fmt import duration, flops, number, percent
from costlens.core.fmt import money as usd
from costlens.core.hours import HOURS_LABEL
from costlens.price import quote_source

_LABEL = 12  # width of the label column


def hours_text(seconds: float | None) -> str:
    """A duration in the unit its size calls for (core/fmt): 19.5 s, 12.3 min, 2.5 h."""
    if seconds is None:
        return "unknown (no end time or heartbeat yet)"
    return duration(seconds)


def priced_on(e: dict[str, Any]) -> str:
    """Where an estimate (``Estimate.as_dict``) is priced, in words: the instance, its price per
    instance-hour and billed per GPU-hour; that the whole instance is billed when it has more
    GPUs than asked for; and that the price is UNCONFIRMED when its row says so."""
    if e.get("usd_per_gpu_hour") is None:
        return "no price known"
    kind = "spot" if e.get("spot") else "on-demand"
    text = f"{e['provider']} {e['instance_type']} ({kind})"
    n, gpus = int(e.get("instance_gpus") or 0), int(e.get("gpus") or 1)
    per_instance = e.get("usd_per_instance_hour")
    if n > gpus and per_instance is not None:  # one instance, more GPUs than asked for
        text += (
            f": {usd(per_instance)} per instance-hour for {n} GPUs; the whole instance is billed"
            f" ({n} GPUs for {gpus} used), {usd(e['usd_per_gpu_hour'])} per GPU-hour used"
        )
    else:
        text += f": {usd(e['usd_per_gpu_hour'])} per GPU-hour"
    if e.get("price_confirmed") is False:
        text += "; this price is UNCONFIRMED (see `costlens prices` and its note)"
    return text


def mfu_text(out: dict[str, Any]) -> str:
    """Both MFUs, each named: over the whole run (start-up and warm-up included) and in the
    steady state (after warm-up; see :mod:`costlens.price.breakdown`)."""
    steady = out.get("mfu_steady_state")
    steady_text = (
        f"{percent(steady, digits=1)} steady state ({out['steady_state_basis']})"
        if steady is not None
        else f"steady state unknown ({out.get('steady_state_basis') or 'not measured'})"
    )
    return f"{percent(out['mfu'], digits=1)} whole run; {steady_text}"


def _what_ran(out: dict[str, Any]) -> list[tuple[str, str]]:
    if out["cpu_only"]:
        device = "CPU only (no accelerator)"
    else:
        key = f" ({out['device_key']})" if out["device_key"] else ""
        device = f"{out['device_count']} x {out['device']}{key}"
    lines = [("run", str(out["run_id"])), ("hardware", device)]
    lines.append(("duration", hours_text(out["duration_s"])))
    if out.get("flops"):
        lines.append(("work", f"{flops(out['flops'])} FLOPs at {out['precision']}"))
    return lines


def rate_text(q: dict[str, Any], vcpus: float | None = None) -> str:
    """A quote's rate with the right unit: per instance-hour, and per GPU-hour for accelerator
    instances or per vCPU-hour for CPU-only ones (when the vCPUs are known)."""
    per_instance = f"{usd(q['usd_per_hour'])} per instance-hour"
    if q["gpu_count"] > 0:
        return (
            f"{per_instance} ({usd(q['usd_per_gpu_hour'])} per GPU-hour, {q['gpu_count']} GPU(s))"
        )
    if vcpus:
        return f"{per_instance} ({usd(q['usd_per_hour'] / vcpus)} per vCPU-hour, {vcpus:g} vCPUs)"
    return per_instance


def _cost_lines(out: dict[str, Any], vcpus: float | None) -> list[tuple[str, str]]:
    q = out["quote"]
    kind = "spot" if out["spot"] else "on-demand"
    if q is None:
        return [("cost", "unknown: no price for this hardware (see the notes)")]
    inst = f"{out['instances']} x {q['provider']} {q['instance_type']} ({q['region']}, {kind})"
    lines = [
        ("cost", f"{usd(out['cost_usd'])} {kind}"),
        ("billed", f"{inst} for {hours_text(out['duration_s'])}"),
        ("rate", rate_text(q, vcpus)),
    ]
    kind = out.get("device_kind") or ("cpu" if out["cpu_only"] else "gpu")
    if out.get("device_hours") is not None:
        used = f"{number(out['device_hours'])} {HOURS_LABEL[kind]}"
        if kind == "gpu":
            devices, rented = out["device_count"], out["instances"] * q["gpu_count"]
            used += " used"
            if rented > devices:
                used += f"; {rented} GPUs billed for {devices} used (whole instances are rented)"
        else:
            used += " (CPU only: billed per instance-hour)"
        lines.append((HOURS_LABEL[kind], used))
    lines.append(("why", str(out["quote_reason"])))
    lines.append(("price from", f"{quote_source(q['source'], out['spot'])}, as of {q['as_of']}"))
    if not q.get("confirmed", True) or out.get("quote_note"):
        mark = "" if q.get("confirmed", True) else "this price is UNCONFIRMED: "
        lines.append(("caveat", mark + str(out.get("quote_note") or "")))
    return lines


def _part_text(kwh: float | None, basis: str | None, missing: str) -> str:
    if kwh is None:
        return missing
    return number(kwh, "kWh") + (f" ({basis})" if basis else "")


def _energy_lines(out: dict[str, Any]) -> list[tuple[str, str]]:
    """GPU and host CPU energy (each measured, estimated or not measured), their total, its
    cost and its CO2e: the same figures as ``--format json`` and the notes."""
    if out.get("total_energy_kwh") is None:
        return [("energy", "not measured (no energy counter, power samples or host CPU reading)")]
    lines: list[tuple[str, str]] = []
    if not out["cpu_only"]:
        gpu = _part_text(out["energy_kwh"], out.get("energy_source"), "not measured")
        lines.append(("GPU energy", gpu))
    basis = out.get("cpu_energy_basis")
    cpu_basis = "estimate: CPU load x the TDP table" if basis == "estimate" else basis
    lines.append(("CPU energy", _part_text(out.get("cpu_energy_kwh"), cpu_basis, "not measured")))
    lines.append(("total", number(out["total_energy_kwh"], "kWh")))
    lines.append(
        (
            "electricity",
            f"{usd(out['energy_cost_usd'])} at "
            f"{usd(out['electricity_usd_per_kwh'], sig=3)} per kWh "
            f"({out['electricity_source']}, as of {out['electricity_as_of']})",
        )
    )
    if out.get("co2e_kg") is not None:
        region = "default intensity" if out.get("carbon_is_default") else out["carbon_region"]
        lines.append(
            (
                "CO2e",
                f"{number(out['co2e_kg'], 'kg')} at {out['carbon_g_co2e_per_kwh']:g} g per kWh "
                f"({region}; {out['carbon_source']}, as of {out['carbon_as_of']})",
            )
        )
    else:
        lines.append(("CO2e", "unknown (no grid carbon intensity for this region)"))
    return lines


def _target_lines(out: dict[str, Any]) -> list[tuple[str, str]]:
    """The cost to the target (``--target``) and its basis, or 'not reached (best ...)'."""
    return [("to target", out["to_target"]), ("basis", out["target_basis"])]


def _waste_lines(out: dict[str, Any]) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    if out.get("achieved_flops_per_s") is not None:
        speed = f"{flops(out['achieved_flops_per_s'])} FLOP/s achieved"
        if out.get("mfu") is not None:
            speed += f" of {flops(out['peak_flops_per_s'])} peak"
        else:
            speed += " (peak unknown: no MFU)"
        lines.append(("throughput", speed))
        if out.get("mfu") is not None:
            lines.append(("MFU", mfu_text(out)))
    if out.get("idle_fraction") is not None:
        lines.append(
            (
                "idle",
                f"{percent(out['idle_fraction'])} of GPU readings under "
                f"{out['idle_threshold_pct']:g}% "
                f"utilisation: {usd(out['idle_waste_usd'])} of the cost",
            )
        )
    elif not out["cpu_only"]:
        lines.append(("idle", "unknown (no GPU utilisation samples)"))
    return lines


ALTERNATIVE_LAYOUT = (
    Col("provider", "provider", 0, "id"),
    Col("instance_type", "instance", 0, "id"),
    Col("region", "region", 2, "id"),
    Col("instances", "n", 1, "num"),
    Col("usd_per_hour", "$/inst-h", 1, "num"),
    Col("cost_usd", "cost $", 0, "num"),
    Col("spot_instance_type", "spot instance", 3, "id"),
    Col("spot_usd_per_hour", "spot $/inst-h", 3, "num"),
    Col("spot_cost_usd", "spot cost $", 2, "num"),
)


def _section(console: Any, title: str, lines: list[tuple[str, str]]) -> None:
    from rich.table import Table
    from rich.text import Text

    if not lines:
        return
    console.print(title, style="bold", markup=False, highlight=False)
    grid = Table.grid(padding=(0, 2, 0, 2))
    grid.add_column(min_width=_LABEL, no_wrap=True)
    grid.add_column(overflow="fold")  # sentences wrap at spaces; a word is cut only if longer
    for label, value in lines:
        grid.add_row(Text(label), Text(value))
    console.print(grid)


def print_cost(
    console: Any,
    out: dict[str, Any],
    *,
    vcpus: float | None = None,
    wide: bool = False,
) -> None:
    """The breakdown of :func:`costlens.price.run_cost` in sections on ``console`` (``vcpus``:
    the quoted instance's, for a per vCPU-hour rate)."""
    _section(console, "What ran", _what_ran(out))
    _section(console, "What it cost, and why", _cost_lines(out, vcpus))
    if out.get("target"):
        _section(console, f"Cost to {out['target']}", _target_lines(out))
    _section(console, "Energy", _energy_lines(out))
    _section(console, "Throughput and waste", _waste_lines(out))
    alternatives = out.get("alternatives") or []
    if alternatives:
        print_table(
            console,
            alternatives,
            ALTERNATIVE_LAYOUT,
            title="The same run elsewhere (cheapest matching instance per provider)",
            wide=wide,
            hint="(--wide shows all)",
        )
    _section(console, "Notes", [("-", n) for n in out.get("notes") or []])
