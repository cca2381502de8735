"""The run store, all its SQL: tables (``models``), the engine and the ``Store`` handle (``db``),
migrations, what is at a URL (``schema``, ``url``), writes (``ingest``, ``progress``) and reads
(``queries``, ``aggregates``, ``timelines``, ``runs_page``).

Importing the package is cheap (``url`` needs no SQLAlchemy); the names below load on first use.
"""

from __future__ import annotations

from costlens.core.lazy import lazy_exports

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

__getattr__ = lazy_exports(__name__, _LAZY)
