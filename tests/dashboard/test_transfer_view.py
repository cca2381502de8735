"""The transfer page's view of costlens.apps.transfer on a project's runs."""

from __future__ import annotations

import pandas as pd
import pytest

from dashboard.views import transfer as view


def test_single_runs_without_a_target_are_compared_whole_and_say_so(filled, prices):
    store, _ = filled
    assert view.transfer_projects(store) == ["vision"]
    cmp = view.transfer_comparison(store, prices, "vision")
    assert cmp["metric"] == "accuracy" and cmp["target"] is None and cmp["scratch_runs"] == 1
    assert cmp["cells"].empty  # no transfer run has a scratch run of its size and data
    assert "whole runs (no quality target logged)" in cmp["verdict"]
    assert "single runs with no interval" in cmp["verdict"] and cmp["payback"] == []
    assert cmp["runs_link"] == "/runs?project=vision"
    assert {p["strategy"] for p in cmp["frontier_points"]} >= {"scratch", "lora"}


def test_a_project_without_scratch_says_what_is_missing(filled, prices):
    store, _ = filled
    cmp = view.transfer_comparison(store, prices, "nlp")  # running lora, failed scratch
    assert cmp["cells"].empty and cmp["excluded"] == 2 and cmp["summary"] == ""


def test_the_claim_is_quoted_with_its_source():
    claim = view.claimed_saving()
    assert claim["saving_pct"] == 80 and "claim" in claim["source"].lower()
    assert claim["as_of"][:4].isdigit()


def test_repeated_runs_make_cells_at_equal_quality(store, prices):
    from tests.dashboard.fill_transfer import PROJECT, fill_transfer

    fill_transfer(store)
    cmp = view.transfer_comparison(store, prices, PROJECT)
    rows = cmp["comparisons"].set_index("label")
    assert dict(rows["verdict"]) == {
        "w2 × 50 labels × full-finetune": "saves",
        "w2 × 200 labels × frozen-features": "saves",
        "w2 × 200 labels × full-finetune": "costs more",
    }  # frozen features at 50 labels never reached the target: not on the savings chart
    cells = cmp["cells"].set_index("label")
    ff = cells.loc["w2 × 50 labels × frozen-features"]
    assert ff["verdict"] == "does not reach target" and ff["reached"] == "0/3"
    assert ff["best_accuracy"] == pytest.approx(0.93) and pd.isna(ff["cost_to_target_usd"])
    ft = cells.loc["w2 × 50 labels × full-finetune"]
    assert ft["saving_pct"] == pytest.approx(75, abs=1) and ft["scratch_reached"] == "3/3"
    assert ft["saving_pct_low"] < ft["saving_pct"] < ft["saving_pct_high"]
    assert ft["cost_to_target_usd"] > 0 and ft["method"].startswith("cost to target")
    assert cmp["target"] == 0.95 and "3 saves" not in cmp["verdict"]
    assert "2 saves, 1 costs more, 1 does not reach target" in cmp["verdict"]
    assert cmp["summary"].startswith("frozen-features reaches 95% for")
    assert "full-finetune reaches 95% for 75% less at w2 × 50 labels" in cmp["summary"]
    front = {p["strategy"] for p in cmp["frontier_points"]}
    assert front == {"scratch", "full-finetune", "frozen-features"}


def test_single_runs_are_compared_without_an_interval(filled, prices):
    store, _ = filled
    cmp = view.transfer_comparison(store, prices, "vision")
    assert set(cmp["comparisons"]["verdict"]) == {view.SINGLE_RUN}
    assert cmp["comparisons"]["saving_pct_low"].isna().all()
