"""Reference tables: accelerator specs, prices, electricity, grid carbon; the :class:`PriceTable`.

Every figure comes from a dated table in ``data/`` (see ``data/README.md``), never from a literal.
A malformed table is refused with a :class:`~costlens.core.errors.DataTableError` that names the
file, the line (1 = header) and the column. This package never imports torch; pandas only where
a DataFrame is asked for.
"""

from __future__ import annotations

from costlens.core.vocab import CPU_KEY, PRECISIONS
from costlens.price.tables.accelerators import (
    ALIAS_COLUMNS,
    ALIASES_FILE,
    SPEC_COLUMNS,
    SPECS_FILE,
    Accelerators,
    GpuSpec,
    clear_caches,
    gpu_spec,
    gpu_specs,
    resolve_gpu,
    shipped_accelerators,
)
from costlens.price.tables.carbon import CARBON_COLUMNS, CARBON_FILE, CarbonIntensity, CarbonTable
from costlens.price.tables.electricity import ELECTRICITY_COLUMNS, ELECTRICITY_FILE, ElectricityRate
from costlens.price.tables.instances import (
    CPU_PRICES_FILE,
    GPU_PRICES_FILE,
    PRICE_COLUMNS,
    PRICE_KEY,
    USER_PRICES_FILE,
    PriceWarning,
)
from costlens.price.tables.price_table import FRAME_COLUMNS, PriceTable, user_prices_path
from costlens.price.tables.quote import UNCONFIRMED, PriceQuote, note_confirmed, quote_from_row
from costlens.price.tables.skypilot import (
    SKYPILOT_PROVIDERS,
    ImportResult,
    import_skypilot,
    read_skypilot_catalog,
    write_price_table,
)

__all__ = [
    "ALIASES_FILE",
    "ALIAS_COLUMNS",
    "CARBON_COLUMNS",
    "CARBON_FILE",
    "CPU_KEY",
    "CPU_PRICES_FILE",
    "ELECTRICITY_COLUMNS",
    "ELECTRICITY_FILE",
    "FRAME_COLUMNS",
    "GPU_PRICES_FILE",
    "PRECISIONS",
    "PRICE_COLUMNS",
    "PRICE_KEY",
    "SKYPILOT_PROVIDERS",
    "SPECS_FILE",
    "SPEC_COLUMNS",
    "UNCONFIRMED",
    "USER_PRICES_FILE",
    "Accelerators",
    "CarbonIntensity",
    "CarbonTable",
    "ElectricityRate",
    "GpuSpec",
    "ImportResult",
    "PriceQuote",
    "PriceTable",
    "PriceWarning",
    "clear_caches",
    "gpu_spec",
    "gpu_specs",
    "import_skypilot",
    "note_confirmed",
    "quote_from_row",
    "read_skypilot_catalog",
    "resolve_gpu",
    "shipped_accelerators",
    "user_prices_path",
    "write_price_table",
]
