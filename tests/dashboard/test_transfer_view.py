"""The transfer page's view of costlens.transfer on a project's runs."""

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
    assert cmp["verdict"].endswith("in 2 of 2 priced comparisons.")
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
