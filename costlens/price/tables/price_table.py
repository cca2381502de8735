"""The one price-table object: :class:`PriceTable`.

Loaded and validated once (shipped tables plus the user's file), it owns the accelerator specs,
the price rows, the electricity rate and the grid carbon intensities, and memoises its look-ups.
Whatever prices something (a run's cost, an estimate, a forecast, a dashboard page) is handed a
PriceTable explicitly.
Its data never changes after loading and its memo is guarded by a lock, so the dashboard's
threads share one.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costlens.core.errors import DataTableError, PriceNotFoundError
from costlens.core.hours import usd_per_device_hour
from costlens.core.paths import data_dir, home_dir
from costlens.price.tables.accelerators import (
    ALIASES_FILE,
    SPECS_FILE,
    Accelerators,
    GpuSpec,
    shipped_accelerators,
)
from costlens.price.tables.carbon import CARBON_FILE, CarbonTable, read_carbon
from costlens.price.tables.electricity import ElectricityRate, electricity_path, read_electricity
from costlens.price.tables.instances import (
    CPU_PRICES_FILE,
    GPU_PRICES_FILE,
    PRICE_COLUMNS,
    USER_PRICES_FILE,
    cheapest_row,
    merge_user_rows,
    validate_price_rows,
)
from costlens.price.tables.mig import MigProfile, shipped_mig
from costlens.price.tables.quote import PriceQuote, note_confirmed
from costlens.price.tables.rows import file_stamp

if TYPE_CHECKING:
    import pandas

FRAME_COLUMNS: tuple[str, ...] = (
    *PRICE_COLUMNS, "usd_per_gpu_hour", "note", "origin", "confirmed",
)  # fmt: skip


def user_prices_path() -> Path:
    """The user's own price file: ``~/.costlens/prices.csv`` (``$COSTLENS_HOME/prices.csv``)."""
    return home_dir(create=False) / USER_PRICES_FILE


class PriceTable:
    """Validated price rows, accelerator specs and the electricity rate, with memoised look-ups.

    Build one with :meth:`load`; treat it as immutable. ``rows`` are dicts with the columns of
    :data:`FRAME_COLUMNS` (``spot_price_usd_hour`` NaN where there is no spot price;
    ``confirmed`` False where the row's note says UNCONFIRMED).
    """

    def __init__(
        self,
        rows: list[dict[str, Any]],
        accelerators: Accelerators,
        electricity: ElectricityRate,
        *,
        files: tuple[tuple[str, int], ...] = (),
        carbon: CarbonTable | None = None,
    ) -> None:
        self.rows: tuple[dict[str, Any], ...] = tuple(rows)
        self.accelerators = accelerators
        self.electricity = electricity
        self.carbon = carbon if carbon is not None else CarbonTable([])
        self.files = files  # (path, mtime ns) of every file read: see is_current()
        self._by_gpu: dict[str, list[dict[str, Any]]] = {}
        for r in self.rows:
            self._by_gpu.setdefault(r["gpu"], []).append(r)
        self._lock = threading.Lock()
        self._memo: dict[Hashable, Any] = {}
        self._frame: pandas.DataFrame | None = None

    @classmethod
    def load(
        cls,
        user_file: str | Path | None = None,
        *,
        electricity_file: str | Path | None = None,
    ) -> PriceTable:
        """Shipped tables plus the user's price file (``user_file``, else
        ``~/.costlens/prices.csv`` when it exists). Raises DataTableError for a bad table."""
        up = Path(user_file).expanduser() if user_file is not None else user_prices_path()
        if user_file is not None and not up.is_file():
            raise DataTableError("price file not found", path=str(up))
        acc = shipped_accelerators()
        shipped_files = [data_dir() / GPU_PRICES_FILE, data_dir() / CPU_PRICES_FILE]
        shipped: list[dict[str, Any]] = []
        for f in shipped_files:
            if f.is_file():
                shipped += [{**r, "origin": "shipped"} for r in validate_price_rows(f, acc)]
        read = [*shipped_files, data_dir() / SPECS_FILE, data_dir() / ALIASES_FILE]
        rows = shipped
        if up.is_file():
            user = [{**r, "origin": "user"} for r in validate_price_rows(up, acc, user=True)]
            rows = merge_user_rows(shipped, user)
        read.append(up)  # read or missing: a change, or its appearance, makes the table stale
        epath = electricity_path(electricity_file)
        cpath = data_dir() / CARBON_FILE
        read += [epath, cpath]
        for r in rows:
            r.pop("file", None)
            r["usd_per_gpu_hour"] = usd_per_device_hour(r["price_usd_hour"], r["gpu_count"])
            r["confirmed"] = note_confirmed(r.get("note"))
        files = tuple((str(p), file_stamp(p)) for p in read)
        carbon = read_carbon(cpath) if cpath.is_file() else None
        return cls(rows, acc, read_electricity(epath), files=files, carbon=carbon)

    def is_current(self) -> bool:
        """False once any file this table was read from has changed, appeared or vanished."""
        return all(file_stamp(Path(p)) == stamp for p, stamp in self.files)

    # ---------------------------------------------------------------- accelerators

    def resolve(self, name: str) -> str:
        """Any accelerator name -> its key (UnknownAcceleratorError with suggestions)."""
        return self._memoised(("resolve", name), lambda: self.accelerators.resolve(name))

    def spec(self, name: str) -> GpuSpec:
        return self.accelerators.spec(self.resolve(name))

    def mig(self, gpu: str, profile: str) -> MigProfile | None:
        """The MIG profile ``profile`` of ``gpu`` (any name of it) from ``mig_profiles.csv``;
        None when the table does not list it."""
        return shipped_mig().get((self.resolve(gpu), profile.lower()))

    # ---------------------------------------------------------------- prices

    def cheapest(
        self,
        gpu: str,
        gpu_count: int = 1,
        *,
        provider: str | None = None,
        spot: bool = False,
        instance_type: str | None = None,
        min_vcpus: int | None = None,
        region: str | None = None,
    ) -> PriceQuote:
        """The cheapest matching instance (see
        :func:`~costlens.price.tables.instances.cheapest_row`);
        memoised, PriceNotFoundError included."""
        key = self.resolve(gpu)
        memo_key = (
            "cheapest", key, int(gpu_count or 1), provider, spot, instance_type, min_vcpus, region
        )  # fmt: skip

        def find() -> PriceQuote | PriceNotFoundError:
            try:
                return cheapest_row(
                    self._by_gpu.get(key, []), key, gpu_count, provider=provider, spot=spot,
                    instance_type=instance_type, min_vcpus=min_vcpus, region=region,
                )  # fmt: skip
            except PriceNotFoundError as exc:
                return exc

        found = self._memoised(memo_key, find)
        if isinstance(found, PriceNotFoundError):
            raise PriceNotFoundError(str(found))
        return found

    def providers(self, gpu: str) -> list[str]:
        """The providers that list ``gpu``, sorted."""
        key = self.resolve(gpu)
        return sorted({r["provider"] for r in self._by_gpu.get(key, [])})

    def rows_for(self, gpu: str) -> list[dict[str, Any]]:
        """Every price row of ``gpu`` (copies)."""
        return [dict(r) for r in self._by_gpu.get(self.resolve(gpu), [])]

    @property
    def frame(self) -> pandas.DataFrame:
        """Every row as a DataFrame (columns :data:`FRAME_COLUMNS`), built once: read it,
        copy it before changing it."""
        with self._lock:
            if self._frame is None:
                import pandas as pd

                df = pd.DataFrame(list(self.rows), columns=list(FRAME_COLUMNS))
                if not df.empty:
                    df["gpu_count"] = df["gpu_count"].astype(int)
                    df["spot_price_usd_hour"] = df["spot_price_usd_hour"].astype(float)
                self._frame = df
            return self._frame

    def _memoised(self, key: Hashable, compute: Any) -> Any:
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        value = compute()  # outside the lock: look-ups never wait on each other's work
        with self._lock:
            return self._memo.setdefault(key, value)
