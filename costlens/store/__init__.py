"""The run store: tables, engine, fast writes and reads."""

from costlens.store.db import Store, open_store
from costlens.store.ingest import insert_run, insert_samples, update_run, upsert_rank
from costlens.store.models import SAMPLE_COLUMNS, Run, RunRank, Sample

__all__ = [
    "SAMPLE_COLUMNS",
    "Run",
    "RunRank",
    "Sample",
    "Store",
    "insert_run",
    "insert_samples",
    "open_store",
    "update_run",
    "upsert_rank",
]
