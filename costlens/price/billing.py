"""Which instance a run is billed on, and a sentence saying why (billing side of a run's cost).

Order of preference: the instance the user asks for (or the run recorded), on its provider;
else the cheapest instance on the asked (or recorded) provider; else the cheapest instance in
the whole table. What the user asked for explicitly is never replaced by a guess: a missing
price for it raises :class:`~costlens.core.errors.PriceNotFoundError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from costlens.core.errors import PriceNotFoundError
from costlens.core.vocab import CPU_KEY, DETECTED, SPOT
from costlens.price.tables import PriceQuote, PriceTable

if TYPE_CHECKING:
    from costlens.store.models import RunRecord

_SPOT_ONLY = ("lowest spot over the region's zones",)  # source phrases true of spot prices only


def quote_source(source: str, spot: bool) -> str:
    """A price row's ``source`` worded for the quote in use: phrases that describe only the spot
    price (``lowest spot over the region's zones``) are dropped from an on-demand quote."""
    if spot:
        return source
    out = source
    for phrase in _SPOT_ONLY:
        out = out.replace(f"{phrase}; ", "").replace(f" ({phrase})", "").replace(phrase, "")
    return out.replace("()", "").strip()


def recorded_spot(record: RunRecord) -> bool:
    """True when the run recorded that it ran on a spot instance (detected or declared)."""
    return record.get("purchase_option") == SPOT


def min_vcpus_for(key: str, record: RunRecord) -> int | None:
    """CPU-only runs are priced on an instance with at least the run's host vCPUs."""
    return record.get("host_cpu_count") if key == CPU_KEY else None


def quote(
    prices: PriceTable,
    key: str,
    devices: int,
    *,
    provider: str | None = None,
    instance: str | None = None,
    spot: bool = False,
    min_vcpus: int | None = None,
    region: str | None = None,
) -> PriceQuote:
    """The cheapest matching instance for ``devices`` accelerators of ``key`` (``region``: that
    region's price when listed; memoised by the table; PriceNotFoundError when nothing matches)."""
    return prices.cheapest(
        key, max(devices, 1), provider=provider, spot=spot, instance_type=instance,
        min_vcpus=min_vcpus, region=region,
    )  # fmt: skip


def _undeclared_reason(key: str, devices: int, spot: bool, min_vcpus: int | None) -> str:
    kind = "spot" if spot else "on-demand"
    if key == CPU_KEY:
        need = f" with at least {min_vcpus} vCPUs" if min_vcpus else ""
        return f"no instance declared: cheapest {kind} CPU-only instance{need} in the price table"
    return (
        f"no instance declared: cheapest {kind} instance per GPU-hour with {key} "
        f"(preferring {max(devices, 1)} GPU(s) per instance) in the price table"
    )


def _joined(fallback: str, why: str) -> str:
    return f"{fallback}; {why}" if fallback else why


def choose_quote(
    record: RunRecord,
    key: str,
    devices: int,
    prices: PriceTable,
    *,
    provider: str | None = None,
    instance: str | None = None,
    spot: bool = False,
) -> tuple[PriceQuote, str]:
    """The quote used for the run's own cost, and a sentence saying why it was chosen.

    ``provider``/``instance`` (asked by the user) override what the run recorded, detected
    (``instance_basis`` "detected": read from the cloud's metadata) or declared; a recorded
    instance is priced in the run's region when the table lists it there.
    """
    min_vcpus = min_vcpus_for(key, record)
    declared_provider = provider or record.get("provider")
    declared_instance = instance or record.get("instance_type")
    asked_now = bool(provider or instance)
    detected = not asked_now and record.get("instance_basis") == DETECTED
    asked = "as asked" if asked_now else "as recorded with the run"
    if detected:
        asked = "detected from the cloud's instance metadata"
    region = None if asked_now else record.get("region")
    kind = "spot" if spot else "on-demand"
    find = {"spot": spot, "min_vcpus": min_vcpus}
    fallback = ""
    if declared_instance:
        try:
            q = quote(
                prices, key, devices, provider=declared_provider, instance=declared_instance,
                region=region, **find,
            )  # fmt: skip
            where = (
                f"the run's region {q.region}"
                if region and q.region == region
                else f"cheapest listed region {q.region}"
            )
            word = "detected" if detected else "declared"
            return q, f"{word} instance {q.provider}/{q.instance_type} ({asked}); {where}, {kind}"
        except PriceNotFoundError:
            if instance:  # the user asked for it explicitly: say so, do not guess
                raise
            fallback = (
                f"{'detected' if detected else 'declared'} instance {declared_instance!r} is not "
                f"in the price table for {key}"
            )
    if declared_provider:
        try:
            q = quote(prices, key, devices, provider=declared_provider, **find)
            return q, _joined(fallback, f"cheapest {kind} {key} instance on {q.provider} ({asked})")
        except PriceNotFoundError:
            if provider:
                raise
            fallback = _joined(fallback, f"no {key} price on {declared_provider}")
    q = quote(prices, key, devices, **find)
    return q, _joined(fallback, _undeclared_reason(key, devices, spot, min_vcpus))
