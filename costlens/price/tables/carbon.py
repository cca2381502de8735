"""Grid carbon intensity per cloud region (``data/carbon_intensity.csv``), with a default row.

CO2e is derived, never stored: a run's energy (GPU and host CPU) times the intensity of the grid
of the region it ran in (the run's declared region, else the region of the instance it was priced
on), else the table's ``default`` row (the world average), which says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from costlens.core.errors import DataTableError
from costlens.price.tables.rows import cell_date, cell_number, cell_text, read_rows

CARBON_FILE = "carbon_intensity.csv"
CARBON_COLUMNS: tuple[str, ...] = ("provider", "region", "g_co2e_per_kwh", "source", "as_of")


@dataclass(frozen=True)
class CarbonIntensity:
    """Grams of CO2e per kWh drawn from one grid, and where the figure comes from."""

    g_co2e_per_kwh: float
    provider: str
    region: str
    source: str
    as_of: str
    note: str = ""
    is_default: bool = False


class CarbonTable:
    """The validated rows, looked up by (provider, region), case-insensitively."""

    def __init__(self, rows: list[CarbonIntensity]) -> None:
        self._by_key = {(r.provider.lower(), r.region.lower()): r for r in rows}
        defaults = [r for r in rows if r.is_default]
        self.default: CarbonIntensity | None = defaults[0] if defaults else None

    def lookup(self, provider: str | None, region: str | None) -> CarbonIntensity | None:
        """The row of (provider, region); else the default row; None without one."""
        if provider and region:
            got = self._by_key.get((provider.lower(), region.lower()))
            if got is not None:
                return got
        return self.default


def read_carbon(path: Path) -> CarbonTable:
    """Every row validated (a finite positive intensity, a source, a real date); at most one
    ``default`` row. Raises DataTableError naming the file, line and column."""
    rows: list[CarbonIntensity] = []
    for line, row in read_rows(path, CARBON_COLUMNS):
        is_default = row.get("default", "").lower() in ("1", "true", "yes")
        if is_default and any(r.is_default for r in rows):
            raise DataTableError("a second 'default' row", path=str(path), line=line)
        rows.append(
            CarbonIntensity(
                g_co2e_per_kwh=float(
                    cell_number(row, "g_co2e_per_kwh", path, line, positive=True) or 0.0
                ),
                provider=cell_text(row, "provider", path, line),
                region=cell_text(row, "region", path, line),
                source=cell_text(row, "source", path, line),
                as_of=cell_date(row, "as_of", path, line),
                note=row.get("note", ""),
                is_default=is_default,
            )
        )
    return CarbonTable(rows)
