"""Helpers for store tests: a writer process body and fixture rows (importable by subprocesses)."""

from __future__ import annotations

import sys


def sample_rows(run_id: str, n: int, *, start_s: float = 1_700_000_000.0, device: int = 0):
    """``n`` telemetry rows with 64-bit values (bytes and millijoules beyond 2**31)."""
    return [
        (
            run_id,
            start_s + i * 0.5,
            0,
            device,
            float(i % 100),
            5 * 2**33 + i,  # 40 GiB: overflows a 32-bit INTEGER
            80 * 2**30,
            300.0 + (i % 7),
            3 * 2**40 + i * 150_000,  # mJ counter of a long-lived GPU
            1410,
            65,
            12.5,
            64 * 2**30,
        )
        for i in range(n)
    ]


def write_samples(url: str, run_id: str, n: int, batch: int) -> None:
    """Process body: insert ``n`` samples for ``run_id`` in batches (used by concurrency tests)."""
    from costlens.store import insert_run, insert_samples, open_store
    from costlens.store.queries import utcnow

    with open_store(url) as store:
        insert_run(store, {"id": run_id, "started_at": utcnow(), "project": "concurrency"})
        rows = sample_rows(run_id, n)
        for i in range(0, n, batch):
            insert_samples(store, rows[i : i + batch])


if __name__ == "__main__":
    write_samples(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
