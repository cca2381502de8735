"""Dashboard speed on a large store: each page's first render and a run's timelines.

A synthetic store, SQLite or PostgreSQL (10,000 runs, 10 million telemetry samples, written by
the bulk path ``costlens.store.ingest.insert_samples``), is generated once and cached: a file
under /tmp, or a dated database beside ``--pg``'s. The script then times, through
``app.server.test_client()`` (real HTTP requests into Dash's callback endpoint, no browser), the
server time of each page's first render and of a run's timeline callback, alternating pages, and
reports medians against the targets (1 s a page, 300 ms a timeline). It also compares the
timeline read in SQL (``sample_timeline``) with loading the run's raw samples into pandas, to
show what the SQL downsampling buys.

The store is synthetic and exists for timing only: its figures are never shown as measurements.

    python benchmarks/dashboard_load.py [--runs 10000] [--samples 10000000] [--repeat 5]
        [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PAGE_TARGET_S = 1.0
TIMELINE_TARGET_S = 0.3
HEADING = "## Dashboard load"

PROJECTS = ("vision", "nlp-summarise", "speech", "recsys", "llm-pretrain", "ocr", "tabular", "rl")
STRATEGIES = ("scratch", "full-finetune", "lora", "frozen-features", "other")
DEVICES = (("NVIDIA A100-SXM4-80GB", 8), ("NVIDIA H100 80GB HBM3", 8), ("Tesla T4", 1), (None, 0))


def generate_store(path: Path, n_runs: int, n_samples: int, seed: int = 7) -> None:
    """Write a synthetic SQLite store at ``path`` (temp name, then rename)."""
    tmp = path.with_suffix(".partial")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    fill_store(f"sqlite:///{tmp}", n_runs, n_samples, seed)
    for p in (Path(f"{tmp}-wal"), Path(f"{tmp}-shm"), Path(f"{tmp}.lock")):
        p.unlink(missing_ok=True)
    os.replace(tmp, path)


def fill_store(url: str, n_runs: int, n_samples: int, seed: int = 7) -> None:
    """Write the synthetic runs and samples into the (empty) store at ``url``."""
    import numpy as np

    from costlens.store import insert_samples, open_store
    from costlens.store.models import Run

    store = open_store(url)
    rng = np.random.default_rng(seed)
    now = datetime.now(timezone.utc).replace(tzinfo=None)  # runs over the year to today
    # One long run holds a tenth of all samples (its timeline is the slow case); the rest share.
    big = n_samples // 10
    per_run = np.maximum(rng.poisson((n_samples - big) / max(n_runs - 1, 1), n_runs), 1)
    per_run[0] = big
    per_run[-1] = max(per_run[-1] + n_samples - int(per_run.sum()), 1)  # n_samples in all
    rows = []
    for i in range(n_runs):
        dev_name, max_dev = DEVICES[int(rng.integers(len(DEVICES)))] if i else DEVICES[0]
        devices = int(rng.choice([1, 2, 4, 8])) if max_dev == 8 else max_dev
        devices = 8 if i == 0 else devices
        started = now - timedelta(days=float(rng.uniform(0, 365)))
        duration_s = float(rng.uniform(600, 36_000))
        status = "running" if i < 3 else str(rng.choice(["completed"] * 8 + ["failed", "lost"]))
        rows.append(
            {
                "id": f"bench{i:06d}",
                "project": PROJECTS[i % len(PROJECTS)],
                "name": f"synthetic-{i}",
                "tags_json": '["synthetic"]',
                "status": status,
                "started_at": started,
                "ended_at": None
                if status == "running"
                else started + timedelta(seconds=duration_s),
                "heartbeat_at": now if status == "running" else None,
                "host": "bench",
                "user": "bench",
                "command": "python train.py",
                "strategy": STRATEGIES[int(rng.integers(len(STRATEGIES)))],
                "params_total": int(rng.integers(1e6, 1e9)),
                "params_trainable": int(rng.integers(1e5, 1e6)),
                "steps": int(rng.integers(100, 100_000)),
                "samples": int(rng.integers(1e3, 1e7)),
                "tokens": 0,
                "flops": float(rng.uniform(1e15, 1e20)),
                "precision": "bf16" if devices else "fp32",
                "world_size": max(devices, 1),
                "device_name": dev_name,
                "device_count": devices,
                "host_cpu_count": 32,
                "host_ram_total_bytes": 256 * 2**30,
                "energy_j": float(rng.uniform(1e5, 1e9)),
                "energy_source": "nvml",
                "metrics_json": json.dumps({"accuracy": round(float(rng.uniform(0.5, 0.99)), 4)}),
            }
        )
    with store.engine.begin() as conn:
        conn.execute(Run.__table__.insert(), rows)
    batch: list[tuple] = []
    for i, run in enumerate(rows):
        n = int(per_run[i])
        devs = run["device_count"]
        t0 = run["started_at"].timestamp()
        if devs:
            n_dev = max(n // devs, 1)
            idx = np.repeat(np.arange(devs), n_dev)[:n]
            t = t0 + np.tile(np.arange(n_dev), devs)[:n] * 1.0
            util = rng.uniform(0, 100, len(idx)).round(1)
            power = rng.uniform(50, 700, len(idx)).round(1)
            for d, ts, u, pw in zip(
                idx.tolist(), t.tolist(), util.tolist(), power.tolist(), strict=True
            ):
                batch.append(
                    (
                        run["id"],
                        ts,
                        0,
                        d,
                        u,
                        40 * 2**30,
                        80 * 2**30,
                        pw,
                        None,
                        1410,
                        60,
                        20.0,
                        2**35,
                    )
                )
        else:
            t = t0 + np.arange(n) * 1.0
            cpu = rng.uniform(0, 100, n).round(1)
            for ts, c in zip(t.tolist(), cpu.tolist(), strict=True):
                batch.append(
                    (run["id"], ts, 0, -1, None, None, None, None, None, None, None, c, 2**34)
                )
        if len(batch) >= 200_000:
            insert_samples(store, batch)
            batch = []
    if batch:
        insert_samples(store, batch)
    # As a long-lived store is: checkpointed (SQLite); vacuumed and analysed (PostgreSQL, as
    # autovacuum leaves it), so the covering index serves index-only scans.
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if store.dialect == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            conn.exec_driver_sql("VACUUM (ANALYZE) samples")
            conn.exec_driver_sql("VACUUM (ANALYZE) runs")
    store.dispose()


def ensure_pg_store(admin_url: str, n_runs: int, n_samples: int) -> str:
    """The URL of a PostgreSQL database holding the synthetic store for these sizes (made when
    missing or incomplete; dated like the SQLite one)."""
    import psycopg

    day = datetime.now(timezone.utc).strftime("%Y%m%d")
    name = f"costlens_dashboard_bench_{n_runs}_{n_samples}_{day}"
    url = f"{admin_url.rsplit('/', 1)[0]}/{name}"
    dsn = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as admin:
        old = [r[0] for r in admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s",
            (f"costlens_dashboard_bench_{n_runs}_{n_samples}_%",),
        )]  # fmt: skip
        complete = False
        if name in old:
            with psycopg.connect(f"{dsn.rsplit('/', 1)[0]}/{name}") as conn:
                try:
                    runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
                    samples = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
                    complete = (runs, samples) == (n_runs, n_samples)
                except psycopg.Error:
                    complete = False
        for db in old:
            if db != name or not complete:
                admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        if not complete:
            admin.execute(f'CREATE DATABASE "{name}"')
            t0 = time.perf_counter()
            print(f"generating {name} ({n_runs} runs, {n_samples} samples)...", file=sys.stderr)
            fill_store(url, n_runs, n_samples)
            print(f"  done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return url


def ensure_store(n_runs: int, n_samples: int) -> Path:
    """The cached synthetic store for these sizes (generated when missing)."""
    # Dated: the store's runs lead up to the day it was made, so pages see a recent month.
    day = datetime.now(timezone.utc).strftime("%Y%m%d")
    path = Path("/tmp") / f"costlens_dashboard_bench_{n_runs}_{n_samples}_{day}.db"
    for old in Path("/tmp").glob(f"costlens_dashboard_bench_{n_runs}_{n_samples}_*.db"):
        if old != path:
            old.unlink(missing_ok=True)
    if not path.exists():
        t0 = time.perf_counter()
        print(f"generating {path} ({n_runs} runs, {n_samples} samples)...", file=sys.stderr)
        generate_store(path, n_runs, n_samples)
        print(f"  done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return path


# ---------------------------------------------------------------------------- timing


def _post(
    client, output: str, outputs: list | dict, inputs: list, state: list | None = None
) -> float:
    """Server time (s) of one callback request through Flask's test client (``outputs``: a
    dict for a single-output callback, a list for several)."""
    body = {"output": output, "outputs": outputs, "inputs": inputs, "state": state or [],
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs[:1]]}  # fmt: skip
    t0 = time.perf_counter()
    resp = client.post("/_dash-update-component", json=body)
    dt = time.perf_counter() - t0
    if resp.status_code not in (200, 204):
        raise RuntimeError(f"{output}: HTTP {resp.status_code}: {resp.data[:300]!r}")
    return dt


def _route(client, path: str) -> float:
    """Server time (s) of the page router: the page's layout built for ``path``."""
    return _post(
        client,
        ".._pages_content.children..._pages_store.data..",
        [{"id": "_pages_content", "property": "children"},
         {"id": "_pages_store", "property": "data"}],
        [{"id": "_pages_location", "property": "pathname", "value": path},
         {"id": "_pages_location", "property": "search", "value": ""}],
    )  # fmt: skip


def _estimate_cb(client) -> float:
    from dashboard.views import estimate

    ids = estimate.ESTIMATE_FORM_IDS
    state = [{"id": f"est-{k}", "property": "value", "value": estimate.ESTIMATE_DEFAULTS[k]}
             for k in ids]  # fmt: skip
    state[ids.index("spot")]["value"] = []
    return _post(client, "estimate-result.children",
                 {"id": "estimate-result", "property": "children"},
                 [{"id": "est-go", "property": "n_clicks", "value": 0}], state)  # fmt: skip


def _forecast_cb(client) -> float:
    return _post(client, "forecast-result.children",
                 {"id": "forecast-result", "property": "children"},
                 [{"id": "forecast-plan", "property": "data", "value": None},
                  {"id": "forecast-budget", "property": "value", "value": "5000"},
                  {"id": "forecast-period", "property": "value", "value": "month"}])  # fmt: skip


def _refresh_cb(client, run_id: str) -> float:
    return _post(
        client,
        "..run-timelines.children...run-refresh.disabled...run-live.children..",
        [{"id": "run-timelines", "property": "children"},
         {"id": "run-refresh", "property": "disabled"},
         {"id": "run-live", "property": "children"}],
        [{"id": "run-refresh", "property": "n_intervals", "value": 1}],
        [{"id": "run-id", "property": "data", "value": run_id}],
    )  # fmt: skip


def page_steps(long_run: str, typical_run: str) -> dict:
    """Page -> the requests of its first render (router, then the callbacks it fires on load)."""
    return {
        "Overview (/)": [lambda c: _route(c, "/")],
        "Runs (/runs)": [lambda c: _route(c, "/runs")],
        "Run, typical (~900 readings)": [lambda c: _route(c, f"/runs/{typical_run}")],
        "Run, long (a tenth of all readings)": [lambda c: _route(c, f"/runs/{long_run}")],
        "Transfer vs scratch": [lambda c: _route(c, "/transfer")],
        "Estimate (form + result)": [lambda c: _route(c, "/estimate"), _estimate_cb],
        "Prices": [lambda c: _route(c, "/prices")],
        "Forecast (example plan)": [lambda c: _route(c, "/forecast"), _forecast_cb],
    }


def _fresh_app(url: str):
    """A new app (cold: as after a server start; it loads its own price table and model)."""
    from costlens.price import tables as catalog
    from dashboard.app import create_app

    catalog.clear_caches()
    return create_app(url)


def measure(url: str, repeat: int) -> dict:
    """Medians (s): first render (cold app) and second render of each page; timelines."""
    import pandas as pd

    from costlens.store import open_store
    from costlens.store.timelines import sample_timeline
    from dashboard.views.run import run_timeline

    store = open_store(url)
    long_run, typical_run = "bench000000", "bench000001"
    steps = page_steps(long_run, typical_run)
    cold: dict[str, list[float]] = {k: [] for k in steps}
    warm: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeat):
        for name, calls in steps.items():  # alternate pages, each on a cold app
            client = _fresh_app(url).server.test_client()
            cold[name].append(sum(call(client) for call in calls))
            warm[name].append(sum(call(client) for call in calls))
    # Timelines: the refresh callback, and the read alone: windows vs every reading vs pandas.
    client = _fresh_app(url).server.test_client()
    tl = {"refresh callback, long run": [], "refresh callback, typical run": [],
          "windowed SQL (views.run.run_timeline), long": [],
          "all readings bucketed in SQL (sample_timeline), long": [],
          "raw samples into pandas, then resampled, long": []}  # fmt: skip
    raw_sql = "SELECT * FROM samples WHERE run_id = :r"
    for i in range(repeat):
        tl["refresh callback, long run"].append(_refresh_cb(client, long_run))
        tl["refresh callback, typical run"].append(_refresh_cb(client, typical_run))
        t0 = time.perf_counter()
        run_timeline(store, long_run)
        tl["windowed SQL (views.run.run_timeline), long"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sample_timeline(store, long_run)
        tl["all readings bucketed in SQL (sample_timeline), long"].append(time.perf_counter() - t0)
        if i < 2:  # slow and memory-hungry: twice is enough for the ratio
            from sqlalchemy import text

            t0 = time.perf_counter()
            with store.engine.connect() as conn:
                raw = pd.read_sql_query(text(raw_sql), conn, params={"r": long_run})
            raw["bucket"] = (raw["t_unix_s"] - raw["t_unix_s"].min()) // (
                (raw["t_unix_s"].max() - raw["t_unix_s"].min()) / 600 + 1e-9
            )
            raw.groupby(["device_index", "bucket"]).mean(numeric_only=True)
            tl["raw samples into pandas, then resampled, long"].append(time.perf_counter() - t0)
            del raw
    # Where the slow pages spend their time (costlens.price, timed on its own).
    from costlens import price as cost
    from costlens.price.tables import PriceTable
    from costlens.store.queries import list_runs
    from dashboard.views.overview import DEFAULT_PERIOD, period_start

    recs = list_runs(store, since=period_start(DEFAULT_PERIOD))
    parts: dict[str, list[float]] = {"price": [], "summary": []}
    for _ in range(repeat):
        t0 = time.perf_counter()
        cost.add_cost_columns(recs, prices=PriceTable.load())
        parts["price"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        cost.sample_summary(store, [long_run])
        parts["summary"].append(time.perf_counter() - t0)
    store.dispose()
    med = statistics.median
    return {
        "pages": {k: (med(cold[k]), med(warm[k])) for k in steps},
        "timelines": {k: med(v) for k, v in tl.items()},
        "period_runs": len(recs),
        "price_s": med(parts["price"]),
        "summary_s": med(parts["summary"]),
    }


def machine() -> str:
    try:
        import torch

        tv = torch.__version__
    except ImportError:
        tv = "not installed"
    import dash

    return (f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {tv}, Dash {dash.__version__}")  # fmt: skip


def section(res: dict, n_runs: int, n_samples: int, repeat: int, backend: str = "SQLite") -> str:
    pages = res["pages"]
    tls = res["timelines"]
    lines = [
        HEADING if backend == "SQLite" else f"{HEADING} ({backend})",
        "",
        f"`python benchmarks/dashboard_load.py` on {datetime.now():%Y-%m-%d}; {machine()}.",
        f"Synthetic {backend} store (timing only): {n_runs:,} runs, {n_samples:,} samples written "
        "with `costlens.store.ingest.insert_samples`, then "
        + (
            "checkpointed"
            if backend == "SQLite"
            else "vacuumed and analysed, as autovacuum leaves a long-lived store"
        )
        + f"; one long run holds {n_samples // 10:,} of them (8 GPUs). "
        "Server time through `app.server.test_client()` (HTTP into Dash's callback endpoint, no "
        f"browser), medians of {repeat} alternated repetitions. *First render*: a new app with "
        "its own price table and estimator model, loaded afresh, as after a "
        "server start; *again*: the same request repeated on that app.",
        "",
        "| page | first render (ms) | again (ms) | target (ms) | first within target |",
        "|---|---:|---:|---:|---|",
    ]
    for name, (cold, warm) in pages.items():
        ok = "yes" if cold <= PAGE_TARGET_S else "**no**"
        lines.append(f"| {name} | {cold * 1e3:,.0f} | {warm * 1e3:,.0f} | "
                     f"{PAGE_TARGET_S * 1e3:,.0f} | {ok} |")  # fmt: skip
    lines += ["", "| run timelines | median (ms) | target (ms) |", "|---|---:|---:|"]
    for name, v in tls.items():
        target = f"{TIMELINE_TARGET_S * 1e3:,.0f}" if name.startswith("refresh") else "-"
        lines.append(f"| {name} | {v * 1e3:,.0f} | {target} |")
    w = tls["windowed SQL (views.run.run_timeline), long"]
    b = tls["all readings bucketed in SQL (sample_timeline), long"]
    r = tls["raw samples into pandas, then resampled, long"]
    lines += [
        "",
        f"Long run's timeline: windowed SQL is {b / w:.1f}x faster than bucketing every reading "
        f"in SQL and {r / w:.0f}x faster than loading its raw samples into pandas.",
        "",
        f"Where the time goes: pricing the overview's {res['period_runs']:,} runs of the "
        f"last month with `costlens.price.add_cost_columns` takes {res['price_s'] * 1e3:,.0f} ms "
        "(price look-ups memoised by the one PriceTable the app holds), "
        "and the long run's cost breakdown reads `costlens.price.sample_summary` over all its "
        f"readings, {res['summary_s'] * 1e3:,.0f} ms (an index-only scan of the covering index "
        "from schema revision 0003).",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str, path: Path = REPO / "BENCHMARKS.md") -> None:
    """Replace this script's section (its heading to the next ``## ``) in BENCHMARKS.md."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    heading = text.splitlines()[0]
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(lambda _m: text, old) if pattern.search(old) else old.rstrip() + "\n\n" + text
    tmp = path.with_suffix(".md.partial")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--samples", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--pg",
        metavar="ADMIN_URL",
        help="time against PostgreSQL (a database is made beside ADMIN_URL's), not SQLite",
    )
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if args.pg:
        store_url, backend = ensure_pg_store(args.pg, args.runs, args.samples), "PostgreSQL"
    else:
        store_url, backend = f"sqlite:///{ensure_store(args.runs, args.samples)}", "SQLite"
    result = measure(store_url, args.repeat)
    text = section(result, args.runs, args.samples, args.repeat, backend)
    print(text)
    if args.write:
        write_section(text)
