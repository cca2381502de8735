"""The transfer page's view of costlens.apps.transfer on a project's runs."""

from __future__ import annotations

import pytest

from dashboard.views import transfer as view


def test_transfer_comparison_measures_savings_and_says_where_transfer_lost(filled, prices):
    store, _ = filled
    assert view.transfer_projects(store) == ["vision"]
    cmp = view.transfer_comparison(store, prices, "vision")
    assert cmp["metric"] == "accuracy" and "loss" in cmp["metrics"]
    assert len(cmp["runs"]) == 3 and cmp["scratch_runs"] == 1
    sav = cmp["savings"].set_index(["label", "budget"])["saving_pct"]
    lora = "lora: vision-lora"
    assert sav[(lora, "time")] == pytest.approx(100 * (4 - 0.75) / 4)
    assert sav[(lora, "labelled data")] == pytest.approx(100 * (1_200_000 - 20_000) / 1_200_000)
    # full fine-tune used more energy than scratch: the page must say so
    assert sav[("full-finetune: vision-full-finetune", "energy")] < 0
    assert any("did not save on energy" in n for n in cmp["notes"])
    assert any(n.startswith(f"{lora}: final accuracy 0.905 against 0.912") for n in cmp["notes"])
    roi = cmp["roi"].set_index("label")
    assert roi.loc[lora, "roi"] > 0
    assert "in 2 of 2 priced comparisons" in cmp["verdict"]
    loss = view.transfer_comparison(store, prices, "vision", "loss")
    assert loss["metric"] == "loss" and loss["runs"]["metric"].notna().all()
    assert view.transfer_metrics(store, "vision") == (cmp["metrics"], "accuracy")
    assert view.transfer_metrics(store, None) == ([], None)


def test_a_project_without_scratch_says_what_is_missing(filled, prices):
    store, _ = filled
    cmp = view.transfer_comparison(store, prices, "nlp")  # running lora, failed scratch
    assert cmp["runs"].empty and cmp["excluded"] == 2
    assert any("needs at least one completed scratch run" in n for n in cmp["notes"])


def test_the_claim_is_quoted_with_its_source():
    claim = view.claimed_saving()
    assert claim["saving_pct"] == 80 and "claim" in claim["source"].lower()
    assert claim["as_of"][:4].isdigit()


def test_repeated_cpu_runs_make_labelled_cells_with_intervals_verdicts_and_no_empty_panel(
    store, prices
):
    from tests.dashboard.fill_transfer import PROJECT, fill_transfer

    fill_transfer(store)
    cmp = view.transfer_comparison(store, prices, PROJECT)
    rows = cmp["comparisons"].set_index("label")
    assert list(rows.index) == [
        "w2 × 50 labels × frozen-features", "w2 × 50 labels × full-finetune",
        "w2 × 200 labels × frozen-features", "w2 × 200 labels × full-finetune",
    ]  # fmt: skip
    assert dict(rows["verdict"]) == {
        "w2 × 50 labels × frozen-features": "within noise",
        "w2 × 50 labels × full-finetune": "saves",
        "w2 × 200 labels × frozen-features": "saves",
        "w2 × 200 labels × full-finetune": "costs more",
    }
    ft = rows.loc["w2 × 50 labels × full-finetune"]
    assert ft["saving_pct"] == pytest.approx(75, abs=1)
    assert ft["saving_pct_low"] < ft["saving_pct"] < ft["saving_pct_high"]
    assert set(rows["basis"]) == {"training-thread CPU time"} and set(rows["repeats"]) == {3}
    assert (
        "4 comparisons" in cmp["verdict"]
        and "2 saves, 1 costs more, 1 within noise" in (cmp["verdict"])
    )
    # CPU-only runs: no energy, and the page says so instead of drawing an empty panel
    assert any(t.startswith("Energy is not shown") for t in cmp["unmeasured"])
    assert set(cmp["runs"]["cell"]) >= {"w2 × 50 labels × scratch", "w2 × 200 labels × scratch"}
    # only results in the metric chooser: not the set-up figures the demo logs
    assert cmp["metrics"] == ["accuracy"]


def test_single_runs_are_compared_without_an_interval(filled, prices):
    store, _ = filled
    cmp = view.transfer_comparison(store, prices, "vision")
    assert set(cmp["comparisons"]["verdict"]) == {view.SINGLE_RUN}
    assert cmp["comparisons"]["saving_pct_low"].isna().all()
    assert cmp["unmeasured"] == []  # GPU runs with energy, priced, labelled: all measured
    assert "single runs, no interval" in cmp["verdict"]
