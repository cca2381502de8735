"""The write path: 64-bit columns, run updates, rank upserts, journal-safe sample replacement,
counts summed over ranks, every node's energy, and several processes writing one store."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text

from costlens.store import insert_run, insert_samples, open_store, update_run, upsert_rank
from costlens.store.ingest import ensure_run, replace_samples
from costlens.store.progress import devices_energy_mj, rank_sums, run_exists
from costlens.store.queries import count_samples, get_run, list_runs, utcnow
from tests.conftest import REPO
from tests.store_helpers import sample_rows

RUN = "run000aaaa"


def _add_run(store, **values) -> None:
    insert_run(
        store,
        {
            "id": RUN,
            "status": "running",
            "started_at": utcnow(),
            "flops": 8.4e22,  # beyond int64: stored as a double
            "params_total": 7_000_000_000,
            **values,
        },
    )


def test_64bit_columns_hold_large_values(any_store):
    _add_run(any_store)
    insert_samples(any_store, sample_rows(RUN, 10))
    with any_store.engine.connect() as conn:
        mem, energy = conn.execute(
            text("SELECT MAX(mem_used_bytes), MAX(energy_mj) FROM samples")
        ).one()
    assert mem == 5 * 2**33 + 9
    assert energy == 3 * 2**40 + 9 * 150_000
    rec = get_run(any_store, RUN)
    assert rec["flops"] == pytest.approx(8.4e22) and rec["params_total"] == 7_000_000_000


def test_update_and_rank_upsert(any_store):
    _add_run(any_store)
    assert update_run(any_store, RUN, {"status": "failed", "exit_code": 3}) == 1
    assert update_run(any_store, "nope", {"status": "failed"}) == 0
    upsert_rank(any_store, {"run_id": RUN, "rank": 0, "host": "h", "steps": 5})
    upsert_rank(any_store, {"run_id": RUN, "rank": 0, "host": "h", "steps": 9})
    with any_store.engine.connect() as conn:
        assert conn.execute(text("SELECT steps FROM run_ranks")).scalars().all() == [9]
    run = get_run(any_store, RUN)
    assert (run["status"], run["exit_code"]) == ("failed", 3)


def test_run_counts_are_sums_over_ranks_and_steps_the_most_of_any(any_store):
    _add_run(any_store, flops=0.0)
    for rank, steps in ((0, 10), (1, 12)):
        upsert_rank(
            any_store,
            {"run_id": RUN, "rank": rank, "steps": steps, "samples": 4, "tokens": 8, "flops": 1.5},
        )
    update_run(any_store, RUN, rank_sums(RUN))
    rec = get_run(any_store, RUN)
    assert (rec["steps"], rec["samples"], rec["tokens"]) == (12, 8, 16)
    assert rec["flops"] == pytest.approx(3.0)


def test_ensure_run_updates_facts_only_when_asked(store):
    assert not run_exists(store, RUN)
    _add_run(store, status="completed", steps=7, device_name=None)
    assert run_exists(store, RUN)
    again = {"id": RUN, "started_at": utcnow(), "status": "running", "steps": 0}
    ensure_run(store, {**again, "device_name": "GPU A"}, update_facts=False)
    assert get_run(store, RUN)["device"] is None
    ensure_run(store, {**again, "device_name": "GPU B"}, update_facts=True)
    rec = get_run(store, RUN)
    assert rec["device"] == "GPU B"
    assert rec["status"] == "completed" and rec["steps"] == 7  # progress and outcome stay


def test_replace_samples_writes_a_replayed_batch_once(store):
    _add_run(store)
    rows = sample_rows(RUN, 20)
    insert_samples(store, rows[:12])
    replace_samples(store, rows[8:])  # overlaps the batch that had landed already
    replace_samples(store, [])
    assert count_samples(store, RUN) == 20


def test_energy_of_every_device_of_every_node(store):
    _add_run(store)
    assert devices_energy_mj(store, RUN) is None
    rows = [
        (RUN, 1.0 + i, node, device, *[None] * 4, energy, *[None] * 4)
        for node, device, energies in ((0, 0, (5, 9)), (0, 1, (3, 4)), (1, 0, (1, 7)))
        for i, energy in enumerate(energies)
    ]
    rows.append((RUN, 3.0, 0, -1, *[None] * 4, 10**6, *[None] * 4))  # the host: not a device
    insert_samples(store, rows)
    assert devices_energy_mj(store, RUN) == pytest.approx(9 + 4 + 7)


def _concurrent_writers(url: str, n_procs: int = 4, n_rows: int = 50_000) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.store_helpers", url, f"w{i}", str(n_rows), "2000"],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n_procs)
    ]
    errors = []
    for p in procs:
        _, err = p.communicate(timeout=240)
        if p.returncode:
            errors.append(err)
    assert not errors, errors[0][-2000:]


@pytest.mark.slow
def test_four_processes_write_one_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    _concurrent_writers(url)
    store = open_store(url)
    assert count_samples(store) == 200_000
    for i in range(4):
        assert count_samples(store, f"w{i}") == 50_000
    assert len(list_runs(store)) == 4


@pytest.mark.slow
@pytest.mark.postgres
def test_four_processes_write_one_postgres_database(pg_store, pg_url):
    _concurrent_writers(pg_url)
    assert count_samples(pg_store) == 200_000
    assert {r["id"] for r in list_runs(pg_store)} == {f"w{i}" for i in range(4)}
