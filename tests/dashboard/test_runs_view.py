"""The runs table's view: filters, paging and sorting in the store, costs, safe rows."""

from __future__ import annotations

import pytest

from dashboard.fmt import md_escape, run_link
from dashboard.views import runs as view
from tests.dashboard.fill import XSS_NAME


def test_empty_store_gives_an_empty_frame(store, prices):
    df = view.runs_frame(store, prices)
    assert df.empty and {"cost_usd", "started"} <= set(df.columns)


def test_runs_frame_filters_and_costs(filled, prices):
    store, ids = filled
    df = view.runs_frame(store, prices)
    assert len(df) == 7
    vision = view.runs_frame(store, prices, project="vision")
    assert set(vision["id"]) == {ids["scratch"], ids["lora"], ids["finetune"]}
    assert list(view.runs_frame(store, prices, status="failed")["id"]) == [ids["failed"]]
    assert list(view.runs_frame(store, prices, strategy="full-finetune")["id"]) == [ids["finetune"]]
    scratch = df.set_index("id").loc[ids["scratch"]]
    assert scratch["gpu_hours"] == pytest.approx(8.0)  # 4 h x 2 GPUs
    assert scratch["cost_usd"] > 0
    unpriced = view.runs_frame(store, None)
    assert unpriced["cost_usd"].isna().all() and len(unpriced) == 7
    # A period and a field filter combine (one listing, one filter in SQL).
    newest = df["started"].max()
    both = view.runs_frame(store, prices, strategy="full-finetune", since=newest)
    expected = df[(df["strategy"] == "full-finetune") & (df["started"] >= newest)]
    assert list(both["id"]) == list(expected["id"])


def test_filter_options_lists_what_the_store_holds(filled):
    store, _ = filled
    opts = view.filter_options(store)
    assert opts["project"] == ["nlp", "tabular", "vision", "web"]
    assert "lora" in opts["strategy"] and "running" in opts["status"]


def test_table_rows_keep_names_as_text_and_links_safe(filled, prices):
    store, ids = filled
    rows = view.table_rows(view.runs_frame(store, prices))
    xss = next(r for r in rows if r["id"] == ids["xss"])
    assert xss["name"] == XSS_NAME  # text, shown as is by the table (no markdown column)
    assert xss["run"].startswith("[test") and xss["run"].endswith(f"(/runs/{ids['xss']})")
    assert set(rows[0]) >= set(view.RUN_TABLE_COLUMNS)
    assert run_link("a/b c") == "/runs/a%2Fb%20c"
    assert md_escape("[x](y)") == r"\[x\]\(y\)"


def test_runs_page_pages_sorts_and_filters_in_the_store(filled, prices):
    store, ids = filled
    rows, total = view.runs_page(store, prices, page_size=3)
    assert total == 7 and len(rows) == 3
    rest, _ = view.runs_page(store, prices, page=2, page_size=3)
    assert len(rest) == 1
    rows, total = view.runs_page(store, prices, project="vision", page_size=25)
    assert total == 3 and {r["project"] for r in rows} == {"vision"}
    by_hours, _ = view.runs_page(store, prices, sort_by=[{"column_id": "duration",
                                                          "direction": "desc"}])  # fmt: skip
    assert by_hours[0]["id"] == ids["scratch"]  # 4 h, the longest
    by_cost, _ = view.runs_page(store, prices, sort_by=[{"column_id": "cost_usd",
                                                         "direction": "desc"}])  # fmt: skip
    costs = [r["cost_usd"] for r in by_cost if r["cost_usd"] is not None]
    assert costs == sorted(costs, reverse=True) and len(costs) >= 5
    running, total = view.runs_page(store, prices, status="running")
    assert total == 1 and running[0]["id"] == ids["running"]
    ignored, total = view.runs_page(store, prices, sort_by=[{"column_id": "nope"}])
    assert total == 7 and ignored[0]["id"] == ids["running"]  # newest first


def test_runs_grid_gives_name_and_start_room_and_drops_a_column_with_nothing_to_tell(filled):
    """The defect: the runs table cut the run name and start time while all-zero columns took
    space. A store of CPU runs has no device column (hours say "inst-h"); name and start time
    have room."""
    from dashboard import components

    store, _ = filled
    assert view.hidden_columns(store) == ()
    cols = {c["field"]: c for c in components.runs_table(id="t", hide=("device",)).columnDefs}
    assert "device" not in cols
    assert cols["name"]["minWidth"] >= 160 and cols["started"]["minWidth"] >= 140
    assert all(cols[k]["maxWidth"] <= 120 for k in ("duration", "cost_usd"))
    assert cols["device_hours"]["minWidth"] >= 130  # "0.00094 inst-h" whole


def test_hidden_columns_of_a_cpu_only_store(sqlite_url):
    from costlens.store import insert_run, open_store
    from costlens.store.queries import utcnow

    store = open_store(sqlite_url)
    try:
        insert_run(store, {"id": "cpu0", "project": "p", "status": "completed",
                           "started_at": utcnow(), "device_count": 0})  # fmt: skip
        assert view.hidden_columns(store) == ("device",)
    finally:
        store.dispose()


def test_table_rows_write_money_and_quantities_as_text(filled, prices):
    """The defect: the overview's costliest runs showed ``8.6e-05`` beside ``$0.0025``."""
    store, _ = filled
    rows = view.table_rows(view.runs_frame(store, prices))
    costs = [r["cost_usd"] for r in rows]
    assert all(c == "n/a" or c.startswith("$") for c in costs), costs
    assert not any("e-" in c or "e+" in c for c in costs)
