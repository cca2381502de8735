"""One price per run: a run's dollars are its bill (wall time on its instance), the same number
in `show`, `cost`, `runs`, the dashboard's views and the demo's table."""

from __future__ import annotations

import json
from statistics import median

import pytest

from tests.dashboard.fill_transfer import PROJECT, fill_transfer


@pytest.fixture
def demo_store(sqlite_url):
    from costlens.store import open_store

    with open_store(sqlite_url) as store:
        ids = fill_transfer(store)
    return sqlite_url, ids


def test_a_runs_dollars_agree_everywhere(cli, demo_store):
    from costlens.apps.demo import compare_strategies
    from costlens.apps.transfer import priced_records
    from costlens.price.tables import PriceTable
    from costlens.store import OpenMode, open_store
    from costlens.store.queries import list_runs
    from dashboard.views import run as run_view
    from dashboard.views import runs as runs_view
    from dashboard.views import transfer as transfer_view

    url, ids = demo_store
    env = {"COSTLENS_DB": url}
    listing = {r["id"]: r["cost_usd"] for r in json.loads(cli("runs", "--format", "json",
                                                              env=env).out)}  # fmt: skip
    assert set(ids) <= set(listing) and all(listing[i] > 0 for i in ids)
    prices = PriceTable.load()
    with open_store(url, OpenMode.READ) as store:
        frame = runs_view.runs_frame(store, prices, project=PROJECT)
        dash_runs = dict(zip(frame["id"], frame["cost_usd"], strict=True))
        page = transfer_view.transfer_comparison(store, prices, PROJECT)
        records = priced_records(list_runs(store, project=PROJECT), prices)
        for rid in ids[:3]:
            shown = json.loads(cli("show", rid, "--format", "json", env=env).out)["cost_usd"]
            cost = json.loads(cli("cost", rid, "--format", "json", env=env).out)["cost_usd"]
            page_cost = run_view.run(store, prices, rid)["cost_usd"]
            assert shown == cost == listing[rid] == page_cost == pytest.approx(dash_runs[rid])
    points = {p["run_id"]: p["cost_usd"] for p in page["frontier_points"]}
    assert points and all(points[i] == pytest.approx(listing[i]) for i in points)
    # the demo's table: each cell's cost is the median of its runs' bills, not a CPU-time figure
    for row in compare_strategies(records):
        cell = [r for r in records if r["strategy"] == row["strategy"]
                and r["metrics"]["labelled_samples"] == row["labels"]]  # fmt: skip
        assert row["cost_usd"] == pytest.approx(median(listing[r["id"]] for r in cell))
        cpu_dollars = median(r["cost_usd"] * r["metrics"]["train_cpu_s"] / r["duration_s"]
                             for r in cell)  # fmt: skip
        assert row["cost_usd"] != pytest.approx(cpu_dollars)  # the old CPU-time price is gone
