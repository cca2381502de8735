"""Electricity rates (``data/electricity.csv``, or the user's ``~/.costlens/electricity.csv``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from costlens.core.errors import DataTableError
from costlens.core.paths import data_dir, home_dir
from costlens.price.tables.rows import cell_date, cell_number, cell_text, read_rows

ELECTRICITY_FILE = "electricity.csv"
ELECTRICITY_COLUMNS: tuple[str, ...] = ("region", "usd_per_kwh", "source", "as_of")


@dataclass(frozen=True)
class ElectricityRate:
    """The rate energy is priced at, with where it comes from."""

    usd_per_kwh: float
    source: str
    as_of: str


def read_electricity(path: Path) -> ElectricityRate:
    """The table's row marked ``default`` (else its first row), validated whole."""
    rows = read_rows(path, ELECTRICITY_COLUMNS)
    if not rows:
        raise DataTableError("no rate rows", path=str(path), line=2)
    chosen: ElectricityRate | None = None
    for line, row in rows:
        rate = ElectricityRate(
            usd_per_kwh=float(cell_number(row, "usd_per_kwh", path, line, positive=True) or 0.0),
            source=cell_text(row, "source", path, line),
            as_of=cell_date(row, "as_of", path, line),
        )
        if chosen is None or row.get("default", "").lower() in ("1", "true", "yes"):
            chosen = rate
    assert chosen is not None
    return chosen


def electricity_path(user_file: str | Path | None = None) -> Path:
    """``user_file`` if given (it must exist), else ``~/.costlens/electricity.csv`` if it
    exists, else the shipped ``data/electricity.csv``."""
    if user_file is not None:
        p = Path(user_file).expanduser()
        if not p.is_file():
            raise DataTableError("electricity file not found", path=str(p))
        return p
    p = home_dir(create=False) / ELECTRICITY_FILE
    return p if p.is_file() else data_dir() / ELECTRICITY_FILE
