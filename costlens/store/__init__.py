"""The run store, all its SQL: tables (``models``), the engine and the ``Store`` handle (``db``),
migrations, what is at a URL (``schema``, ``url``), writes (``ingest``, ``progress``) and reads
(``queries``, ``aggregates``, ``timelines``, ``runs_page``).

Importing the package is cheap (``url`` needs no SQLAlchemy); the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "OpenMode": "db",
    "Store": "db",
    "open_store": "db",
    "insert_run": "ingest",
    "insert_samples": "ingest",
    "update_run": "ingest",
    "upsert_rank": "ingest",
    "SAMPLE_COLUMNS": "models",
    "Run": "models",
    "RunRank": "models",
    "Sample": "models",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'costlens.store' has no attribute {name!r}")
    return getattr(importlib.import_module(f"costlens.store.{module}"), name)
