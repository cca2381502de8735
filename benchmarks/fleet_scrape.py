"""One scrape of ``costlens exporter`` at 10,000 runs: the store read and the whole scrape.

Fills a fresh store with ``--runs`` runs over the last 60 days (1% running with a fresh
heartbeat, across 20 projects and a few instance types), then times ``FleetExporter.metrics()``
with the cache off (every call reads the store: the worst case of many scrapers), median of
``--repeats``, on SQLite and PostgreSQL.

    python -m benchmarks.fleet_scrape [--runs 10000] [--repeats 15] [--pg URL] [--write]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import timedelta

from benchmarks._common import machine, today, write_section
from costlens.apps.fleet import FleetExporter
from costlens.price.tables import PriceTable
from costlens.store import open_store
from costlens.store.ingest import _defaults
from costlens.store.models import Run
from costlens.store.queries import utcnow

INSTANCES = [("aws", "m5.xlarge"), ("aws", "p4d.24xlarge"), ("gcp", "a2-highgpu-1g"), (None, None)]


def fill(store, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    now = utcnow()
    rows = []
    for i in range(n):
        running = i % 100 == 0
        started = now - timedelta(seconds=rng.uniform(60, 60 * 86400))
        if running:
            started = now - timedelta(seconds=rng.uniform(60, 86400))
        length = timedelta(seconds=rng.uniform(60, 12 * 3600))
        provider, instance = INSTANCES[i % len(INSTANCES)]
        rows.append({
            "id": uuid.uuid4().hex, "project": f"p{i % 20}", "name": f"run{i}",
            "status": "running" if running else "completed", "started_at": started,
            "heartbeat_at": now if running else started + length,
            "ended_at": None if running else started + length,
            "provider": provider, "instance_type": instance, "host_cpu_count": 8,
            "steps": i, "strategy": "lora", "host": "h", "tags_json": "[]",
        })  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(Run.__table__.insert(), [_defaults(r) for r in rows])


def measure(store, repeats: int) -> dict[str, float]:
    fleet = FleetExporter(store, PriceTable.load(), cache_s=0.0)
    fleet.metrics()  # warm: the price look-ups are memoised per instance after the first
    queries, scrapes = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fleet.metrics()
        scrapes.append(time.perf_counter() - t0)
        queries.append(fleet.last_query_s or 0.0)
    return {"query_ms": statistics.median(queries) * 1e3,
            "scrape_ms": statistics.median(scrapes) * 1e3}  # fmt: skip


def _row(store: str, runs: int, m: dict[str, float]) -> str:
    return f"| {store} | {runs:,} | {m['query_ms']:.1f} ms | {m['scrape_ms']:.1f} ms |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--pg", default=os.environ.get(
        "COSTLENS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))  # fmt: skip
    ap.add_argument("--write", action="store_true", help="write the section of BENCHMARKS.md")
    args = ap.parse_args()
    lines = ["| store | runs | store read (median) | whole scrape (median) |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        with open_store(f"sqlite:///{tmp}/fleet.db", "write") as store:
            fill(store, args.runs)
            m = measure(store, args.repeats)
        lines.append(_row("SQLite", args.runs, m))
    try:
        import psycopg

        admin = psycopg.connect(args.pg.replace("+psycopg", ""), autocommit=True, connect_timeout=3)
    except Exception as exc:
        lines.append(f"| PostgreSQL | not measured: {str(exc).splitlines()[0]} | | |")
    else:
        name = f"costlens_bench_{uuid.uuid4().hex[:8]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            with open_store(args.pg.rsplit("/", 1)[0] + "/" + name, "write") as store:
                fill(store, args.runs)
                m = measure(store, args.repeats)
            lines.append(_row("PostgreSQL", args.runs, m))
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    body = (
        f"{today()}, {machine()}, load {os.getloadavg()[0]:.1f}. "
        "`python -m benchmarks.fleet_scrape`: a fresh store of "
        f"{args.runs:,} runs over 60 days (1% in flight), `FleetExporter.metrics()` with the cache "
        "off (each call one store read: runs running or started in the last 30 days, by the "
        "`runs(status)` and `runs(started_at)` indexes), median of "
        f"{args.repeats}. With `--cache-s` at the scrape interval, any number of scrapers cost "
        "one read per interval.\n\n" + "\n".join(lines)
    )
    print(body)
    if args.write:
        write_section("Fleet exporter scrape", body)


if __name__ == "__main__":
    main()
