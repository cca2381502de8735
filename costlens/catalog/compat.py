"""Transitional functions over :class:`~costlens.catalog.table.PriceTable` for callers not yet
handed a table. New code takes a PriceTable; these go once the last caller has moved."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from costlens.catalog.accelerators import _shipped, resolve_gpu, shipped_accelerators
from costlens.catalog.electricity import electricity_path, read_electricity
from costlens.catalog.prices import cheapest_row, validate_price_rows
from costlens.catalog.quotes import PriceQuote
from costlens.catalog.table import PriceTable
from costlens.errors import DataTableError

if TYPE_CHECKING:
    import pandas


def load_prices(user_file: str | Path | None = None) -> pandas.DataFrame:
    """:attr:`PriceTable.frame` of a freshly loaded table (a copy)."""
    return PriceTable.load(user_file).frame.copy()


def validate_price_file(path: str | Path) -> list[dict[str, Any]]:
    """Validate one price table (shipped layout); returns its rows. Raises DataTableError."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataTableError("file not found", path=str(p))
    return validate_price_rows(p.resolve(), shipped_accelerators())


def cheapest_instance(
    gpu: str,
    gpu_count: int = 1,
    *,
    provider: str | None = None,
    spot: bool = False,
    instance_type: str | None = None,
    prices: Any = None,
    min_vcpus: int | None = None,
) -> PriceQuote:
    """:meth:`PriceTable.cheapest` on ``prices`` (a PriceTable, a price frame, or None)."""
    if prices is None:
        prices = PriceTable.load()
    if isinstance(prices, PriceTable):
        return prices.cheapest(
            gpu, gpu_count, provider=provider, spot=spot, instance_type=instance_type,
            min_vcpus=min_vcpus,
        )  # fmt: skip
    key = resolve_gpu(gpu)
    rows = prices[prices["gpu"] == key].to_dict("records")
    for r in rows:
        r["vcpus"] = r["vcpus"] if r["vcpus"] == r["vcpus"] else None  # NaN -> None
    return cheapest_row(
        rows, key, gpu_count, provider=provider, spot=spot, instance_type=instance_type,
        min_vcpus=min_vcpus,
    )  # fmt: skip


def electricity_usd_per_kwh(user_file: str | Path | None = None) -> tuple[float, str, str]:
    """(rate in $/kWh, source, as_of) of the electricity table in force."""
    return read_electricity(electricity_path(user_file)).as_tuple()


def gpu_specs_frame() -> pandas.DataFrame:
    return shipped_accelerators().frame()


def clear_caches() -> None:
    """Forget the shipped spec tables (they are also reloaded when their files change)."""
    _shipped.cache_clear()
