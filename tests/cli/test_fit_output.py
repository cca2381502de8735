"""Issue 20: `fit` printed one 205-character line and listed full-finetune runs as `scratch`
without saying why."""

from __future__ import annotations

from datetime import datetime, timedelta

from costlens.store import insert_run, open_store


def _runs(url: str, n: int = 4) -> None:
    store = open_store(url)
    for i in range(n):
        params = 1e5 * 2**i
        flops = 6.0 * params * 50_000
        start = datetime(2026, 1, 1) + timedelta(hours=i)
        insert_run(store, {
            "id": f"ft{i:02d}", "status": "completed", "started_at": start,
            "ended_at": start + timedelta(seconds=flops / 1e10), "name": "mlp",
            "strategy": "full-finetune", "params_total": int(params), "steps": 500,
            "samples": 50_000, "flops": flops, "precision": "fp32", "device_count": 0,
        })  # fmt: skip
    store.dispose()


def test_fit_says_why_full_finetune_is_scratch_in_lines_that_fit(cli, sqlite_url):
    _runs(sqlite_url)
    res = cli("fit", "--db", sqlite_url, env={"COLUMNS": "80"})
    assert res.code == 0, res.err
    assert "full-finetune runs are listed as scratch: both train every weight" in " ".join(
        res.out.split()
    )
    assert "runs used 4 of 4" in res.out and "saved to" in res.out
    assert max(len(line) for line in res.out.splitlines()) <= 80, res.out
