"""`costlens estimate --compare --target`: every strategy at equal quality, from SYNTHETIC runs
with metric series (tests/estimator/test_to_target.py: the steps each run reaches 0.95 at)."""

from __future__ import annotations

import json

from costlens.store import open_store
from tests.estimator.test_to_target import record_project

TARGET = ("estimate", "--compare", "--target", "accuracy>=0.95", "--project", "p")


def _project(url: str, add_series, **kw) -> None:
    store = open_store(url, "write")
    try:
        record_project(store, add_series, **kw)
    finally:
        store.dispose()


def test_compare_at_a_target_prices_each_strategy_on_its_runs(cli, sqlite_url, series):
    _project(sqlite_url, series)
    r = cli(*TARGET, "--db", sqlite_url, "--format", "json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    rows = {row["strategy"]: row for row in out["strategies"]}
    assert out["target"]["basis"] == "runs" and out["target"]["project"] == "p"
    assert rows["scratch"]["tokens_to_target"] == 51_200 and rows["scratch"]["runs_reached"] == 3
    assert rows["full-finetune"]["tokens"] == 25_600 and rows["full-finetune"]["savings_usd"] > 0
    assert rows["frozen-features"]["total_cost_usd"] is None
    assert rows["frozen-features"]["reached_target"] is False
    table = cli(*TARGET, "--db", sqlite_url)
    assert table.code == 0, table.err
    text = " ".join(table.out.split())
    assert "at equal quality, accuracy>=0.95" in text and "from 8 runs of project p" in text
    assert "3/3" in text and "0/2" in text and "not reached" in text
    assert "none of 2 runs reached accuracy>=0.95 (best 0.9): not priced" in text
    assert "median of the 3 of 3 runs that reached (scratch-3, scratch-2, scratch-1)" in text
    assert "order-statistic" in text and "size, hardware and speed of run ft-3" in text


def test_tags_choose_the_runs(cli, sqlite_url, series):
    _project(sqlite_url, series)
    r = cli(*TARGET, "--tag", "width=8", "--db", sqlite_url, "--format", "json")
    assert r.code == 1 and "no completed run here has a metric series" in r.err


def test_without_series_it_falls_back_to_the_inputs_and_says_so(cli, sqlite_url, series):
    _project(sqlite_url, series, with_series=False)
    args = ("--params", "1e6", "--tokens", "1e5", "--scratch-tokens", "4e5", "--gpu", "A100")
    r = cli(*TARGET, *args, "--db", sqlite_url, "--format", "json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["target"]["basis"] == "fallback"
    assert out["strategies"][0]["tokens"] == 4e5
    table = cli(*TARGET, *args, "--db", sqlite_url)
    text = " ".join(table.out.split())
    assert "NOT at equal quality" in text and "priced on the given inputs" in text
    bare = cli(*TARGET, "--db", sqlite_url)
    assert bare.code == 1 and "run.log(accuracy=..., step=...)" in bare.err
    assert "Traceback" not in bare.err


def test_a_target_no_run_reached_gives_no_number(cli, sqlite_url, series):
    _project(sqlite_url, series)
    r = cli("estimate", "--compare", "--target", "accuracy>=0.999", "--db", sqlite_url)
    assert r.code == 0, r.err
    text = " ".join(r.out.split())
    assert text.count("not reached") >= 6 and "$" not in text.split("ROI")[1]
    assert (
        "best_strategy=n/a" in text and "compared_strategy=n/a" in text and "scratch *" not in text
    )


def test_target_needs_compare_and_project_needs_target(cli, sqlite_url):
    r = cli("estimate", "--target", "accuracy>=0.95", "--params", "1e9", "--tokens", "1e9")
    assert r.code == 2 and "add --compare" in r.err
    r = cli("estimate", "--project", "p", "--params", "1e9", "--tokens", "1e9", "--compare")
    assert r.code == 2 and "--target" in r.err


def test_a_run_given_sets_the_size_and_the_runs_the_data(cli, sqlite_url, series):
    _project(sqlite_url, series)
    r = cli(*TARGET, "--from-run", "scratch-1", "--db", sqlite_url, "--format", "json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    rows = {row["strategy"]: row for row in out["strategies"]}
    assert out["target"]["anchor_run"] == "scratch-1" and rows["scratch"]["tokens"] == 51_200
    r = cli(*TARGET, "--from-run", "scratch-1", "--scale-tokens", "2", "--db", sqlite_url)
    assert r.code == 2 and "drop --scale-tokens" in r.err
