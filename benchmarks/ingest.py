"""Telemetry ingest rate: costlens's bulk path against the ORM, Core inserts and the raw driver.

Runs every method on the same rows, alternating, and reports the median rows/s of each. Targets on
the development machine: >= 200,000 samples/s into SQLite, >= 100,000/s into PostgreSQL.

    python -m benchmarks.ingest [--rows 200000] [--repeats 3] [--pg URL] [--write]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
import uuid

from sqlalchemy import insert, text
from sqlmodel import Session

from benchmarks._common import machine, today, write_section
from costlens.store import SAMPLE_COLUMNS, Sample, insert_samples, open_store
from tests.store_helpers import sample_rows

TARGET_ROWS_PER_S = {"sqlite": 200_000, "postgresql": 100_000}


def _orm(store, rows):
    with Session(store.engine) as session:
        session.add_all(Sample(**dict(zip(SAMPLE_COLUMNS, r, strict=True))) for r in rows)
        session.commit()


def _core(store, rows):
    with store.engine.begin() as conn:
        conn.execute(
            insert(Sample.__table__), [dict(zip(SAMPLE_COLUMNS, r, strict=True)) for r in rows]
        )


def _costlens(store, rows):
    insert_samples(store, rows)


def _raw_sqlite(store, rows):
    con = sqlite3.connect(store.engine.url.database, timeout=30)
    marks = ", ".join("?" for _ in SAMPLE_COLUMNS)
    con.executemany(f"INSERT INTO samples ({', '.join(SAMPLE_COLUMNS)}) VALUES ({marks})", rows)
    con.commit()
    con.close()


def _truncate(store):
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM samples"))


def measure(store, methods, rows, repeats):
    rates: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(repeats):
        for name, fn in methods.items():  # alternate: one of each per round
            n = len(rows) if name != "SQLModel ORM add_all" else min(len(rows), 20_000)
            _truncate(store)
            t0 = time.perf_counter()
            fn(store, rows[:n])
            rates[name].append(n / (time.perf_counter() - t0))
    _truncate(store)
    return {name: statistics.median(v) for name, v in rates.items()}


def _table(dialect, medians):
    ours = medians["costlens insert_samples"]
    lines = ["| method | rows/s (median) | vs costlens |", "|---|---:|---:|"]
    for name, rate in sorted(medians.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {rate:,.0f} | {rate / ours:.2f}x |")
    target = TARGET_ROWS_PER_S[dialect]
    verdict = "meets" if ours >= target else "MISSES"
    lines.append(
        f"\ncostlens on {dialect}: {ours:,.0f} rows/s, {verdict} the {target:,} rows/s target."
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--pg",
        default=os.environ.get(
            "COSTLENS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = ap.parse_args()
    rows = sample_rows("bench", args.rows)
    out = [
        f"Measured {today()} on {machine()}; {args.rows:,} rows a method, median of "
        f"{args.repeats} alternated rounds (the ORM on 20,000 rows: it is that slow)."
    ]

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/ingest.db")
        medians = measure(
            store,
            {
                "SQLModel ORM add_all": _orm,
                "SQLAlchemy Core insert": _core,
                "costlens insert_samples": _costlens,
                "raw sqlite3 executemany (ceiling)": _raw_sqlite,
            },
            rows,
            args.repeats,
        )
        out += [
            "",
            "### SQLite (WAL, synchronous=NORMAL, file on local disk)",
            "",
            _table("sqlite", medians),
        ]
        store.dispose()

    try:
        import psycopg

        admin = psycopg.connect(args.pg.replace("+psycopg", ""), autocommit=True, connect_timeout=3)
    except Exception as exc:
        out += ["", f"### PostgreSQL\n\nnot measured: {str(exc).splitlines()[0]}"]
    else:
        name = f"costlens_bench_{uuid.uuid4().hex[:8]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            store = open_store(args.pg.rsplit("/", 1)[0] + "/" + name)
            medians = measure(
                store,
                {
                    "SQLModel ORM add_all": _orm,
                    "SQLAlchemy Core insert": _core,
                    "costlens insert_samples": _costlens,
                },
                rows,
                args.repeats,
            )
            ver = admin.execute("SHOW server_version").fetchone()[0]
            out += [
                "",
                f"### PostgreSQL {ver} on loopback (COPY)",
                "",
                _table("postgresql", medians),
            ]
            store.dispose()
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    body = "\n".join(out)
    print(body)
    if args.write:
        write_section("Telemetry ingest", body)


if __name__ == "__main__":
    main()
