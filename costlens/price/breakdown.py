"""One run record -> its cost breakdown: dollars, GPU-hours, energy and CO2e, MFU, idle waste."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from costlens.core.errors import PriceNotFoundError, UnknownAcceleratorError
from costlens.core.hours import CPU, device_kind, hours_figures
from costlens.core.units import S_PER_H, finite_or_none
from costlens.core.vocab import CPU_KEY, DEFAULT_PRECISION, STEADY_AFTER_STEPS
from costlens.price.alternatives import alternatives as alternatives_for
from costlens.price.billing import choose_quote, min_vcpus_for, recorded_spot
from costlens.price.energy import energy_figures
from costlens.price.tables import GpuSpec, PriceQuote, PriceTable

if TYPE_CHECKING:
    from costlens.store.models import RunRecord


def is_cpu_run(record: RunRecord) -> bool:
    """True for a run that used no accelerator (:func:`costlens.core.hours.device_kind`)."""
    return device_kind(record.get("device"), record.get("device_count")) == CPU


def duration_s(record: RunRecord) -> float | None:
    """The run's duration in seconds; None when unknown, negative or not finite."""
    d = finite_or_none(record.get("duration_s"))
    return d if d is not None and d >= 0 else None


def steady_state(record: dict[str, Any]) -> tuple[float | None, str]:
    """(achieved FLOP/s in the steady state, or None; the window in words).

    The window (:data:`~costlens.core.vocab.STEADY_AFTER_STEPS`): from the recorder's first
    flush after each rank's first 5 steps to the run's last flush; the store keeps the FLOPs and
    seconds inside it (``steady_flops``, ``steady_s``: summed FLOPs, the longest rank's
    seconds). None, never a guess, when a rank never got past its first 5 steps, no step was
    taken inside the window, or the run was recorded before costlens kept the window."""
    flops, span = finite_or_none(record.get("steady_flops")), finite_or_none(record.get("steady_s"))
    if flops is None or span is None:
        return None, (
            f"not measured: the run took {STEADY_AFTER_STEPS} steps or fewer, or was recorded "
            "before the steady-state window was kept"
        )
    if not (flops > 0 and span > 0):
        return None, f"not measured: no FLOPs counted after the first {STEADY_AFTER_STEPS} steps"
    return flops / span, f"{span:.0f} s after the first {STEADY_AFTER_STEPS} steps"


def _throughput(
    record: RunRecord, spec: GpuSpec | None, devices: float, seconds: float | None
) -> dict[str, Any]:
    """Achieved FLOP/s, the peak at the run's precision (all devices; MIG slices: their share)
    and both MFUs: ``mfu``
    over the whole run (start-up, compilation and warm-up included) and ``mfu_steady_state``
    (after warm-up: :func:`steady_state`)."""
    flops = float(record.get("flops") or 0.0)
    achieved = flops / seconds if flops > 0 and seconds else None
    precision = record.get("precision") or DEFAULT_PRECISION
    peak_per_device = spec.peak_for(precision) if spec is not None else None
    peak_total = peak_per_device * devices if peak_per_device and devices else None
    steady, basis = steady_state(record)
    return {
        "flops": flops,
        "achieved_flops_per_s": achieved,
        "steady_flops_per_s": steady,
        "precision": precision,
        "peak_flops_per_s": peak_total,
        "peak_source": spec.source if (spec is not None and peak_total) else None,
        "mfu": achieved / peak_total if achieved is not None and peak_total else None,
        "mfu_steady_state": steady / peak_total if steady is not None and peak_total else None,
        "steady_state_basis": basis,
    }


def _device(record: RunRecord, prices: PriceTable, cpu_run: bool, notes: list[str]):
    """(accelerator key, spec) of the run's device; (None, None) for an unknown device."""
    try:
        key = CPU_KEY if cpu_run else prices.resolve(str(record.get("device")))
        return key, prices.spec(key)
    except UnknownAcceleratorError as exc:
        notes.append(str(exc))
        return None, None


def _mig(
    record: RunRecord, key: str | None, prices: PriceTable, notes: list[str]
) -> tuple[str | None, float | None, str | None]:
    """(MIG profile, its share of the GPU, source) of a run on MIG slices; (None, None, None) on
    whole GPUs; (profile, None, None), with a note, for a profile the table does not list."""
    profile = record.get("mig_profile")
    if not profile or key is None:
        return None, None, None
    found = prices.mig(key, profile)
    if found is None:
        notes.append(
            f"MIG profile {profile} of {key} is not in data/mig_profiles.csv: its share of the GPU "
            "is unknown, so the run is not priced"
        )
        return profile, None, None
    return profile, found.share, f"{found.source}, as of {found.as_of}"


def _slice_billing(bill: dict[str, Any], share: float | None, gpu_hours: float | None) -> None:
    """A run on MIG slices pays its share of each GPU's hour (the rest of the GPU serves others):
    the quote's per-GPU-hour rate x GPU-hours x share; no whole instances."""
    q = bill["quote"]
    bill["instances"] = bill["instance_hours"] = None
    ok = q is not None and share is not None and gpu_hours is not None
    bill["cost_usd"] = q["usd_per_gpu_hour"] * gpu_hours if ok else None


def _billing(
    record: RunRecord,
    key: str | None,
    devices: int,
    hours: float | None,
    prices: PriceTable,
    notes: list[str],
    provider: str | None,
    instance: str | None,
    spot: bool,
) -> dict[str, Any]:
    """The billed instance-hours, instances and dollars (whole instances), and the quote used
    (None, with a note, when the run's hardware has no price and none was asked for)."""
    quote: PriceQuote | None = None
    reason = None
    if key is not None:
        try:
            quote, reason = choose_quote(
                record, key, devices, prices, provider=provider, instance=instance, spot=spot
            )
        except PriceNotFoundError as exc:
            if provider or instance:
                raise
            notes.append(str(exc))
    instances = quote.instances_for(devices) if quote is not None else None
    return {
        "instance_hours": None if hours is None else hours * (instances or 1),
        "instances": instances,
        "cost_usd": (
            quote.billed_usd_per_hour(devices) * hours
            if quote is not None and hours is not None
            else None
        ),
        "spot": spot,
        "quote": quote.as_dict() if quote else None,
        "quote_reason": reason,
        "quote_note": (quote.note or None) if quote else None,
    }


def run_cost(
    record: RunRecord,
    *,
    prices: PriceTable,
    provider: str | None = None,
    instance: str | None = None,
    spot: bool = False,
    samples: dict[str, Any] | None = None,
    alternatives: bool = True,
) -> dict[str, Any]:
    """The cost breakdown of one public run record (see ``costlens.store.queries.run_record``).

    ``samples`` is the run's entry of :func:`~costlens.price.sample_summary` (enables the
    power-integral energy fallback and idle waste). ``provider``/``instance`` override what the
    run recorded; an explicitly asked instance or provider that has no price raises
    PriceNotFoundError. An unknown device never raises: the money figures are None and ``notes``
    says why. Energy is priced at ``prices.electricity``. A run that recorded a spot purchase
    (detected or declared) is priced at spot; ``spot`` asks for spot prices for any run.
    """
    notes: list[str] = []
    spot = spot or recorded_spot(record)
    seconds = duration_s(record)
    cpu_run = is_cpu_run(record)
    devices = 0 if cpu_run else int(record.get("device_count") or 0)
    hours = None if seconds is None else seconds / S_PER_H
    if hours is None:
        notes.append("the run has no duration yet (no end time or heartbeat)")
    key, spec = _device(record, prices, cpu_run, notes)

    bill = _billing(record, key, devices, hours, prices, notes, provider, instance, spot)
    mig_profile, share, share_source = _mig(record, key, prices, notes)
    figures = hours_figures(seconds, record.get("device"), devices)
    if mig_profile:  # GPU-hours are the slices' share of GPU-hours
        for k in ("device_hours", "gpu_hours"):
            figures[k] = figures[k] * share if figures[k] is not None and share else None
        _slice_billing(bill, share, figures["gpu_hours"])
    energy = energy_figures(record, samples, seconds, bill["quote"], prices, notes)
    speed = _throughput(record, spec, devices * (share or 1.0), seconds)
    if speed["achieved_flops_per_s"] is not None and speed["peak_flops_per_s"] is None and key:
        notes.append(
            f"no peak FLOP/s for {key} at {speed['precision']} in the spec table: MFU unknown"
        )
    idle_fraction = samples.get("idle_fraction") if samples else None
    return {
        "run_id": record.get("id"),
        "device": record.get("device"),
        "device_key": key,
        "device_count": devices,
        "cpu_only": cpu_run,
        "duration_s": seconds,
        **figures,
        "mig_profile": mig_profile,
        "gpu_share": share,
        "gpu_share_source": share_source,
        **bill,
        **energy,
        **speed,
        "idle_threshold_pct": samples.get("idle_threshold_pct") if samples else None,
        "idle_fraction": idle_fraction,
        "idle_waste_usd": (
            bill["cost_usd"] * idle_fraction
            if bill["cost_usd"] is not None and idle_fraction is not None
            else None
        ),
        "alternatives": (
            alternatives_for(key, devices, hours, prices, min_vcpus=min_vcpus_for(key, record))
            if alternatives and key is not None and not mig_profile
            else []
        ),
        "notes": notes,
    }
