"""The estimate form's view: one number parser, per-strategy and per-provider estimates."""

from __future__ import annotations

import pytest

from costlens.core.errors import UsageError
from costlens.core.numbers import NumberError
from dashboard.views import estimate as view


def test_estimate_per_strategy_and_provider(prices, model):
    res = view.estimate(dict(view.ESTIMATE_DEFAULTS), prices, model)
    strategies = res["strategies"]
    assert list(strategies["strategy"]) == ["scratch", "full-finetune", "lora", "frozen-features"]
    assert (strategies["total_cost_usd_low"] <= strategies["total_cost_usd"]).all()
    assert (strategies["total_cost_usd"] <= strategies["total_cost_usd_high"]).all()
    by_provider = res["by_provider"]
    assert by_provider["provider"].nunique() >= 2
    assert len(by_provider) == 4 * by_provider["provider"].nunique()
    rows = view.estimate_rows(strategies)
    assert rows[0]["roi"] == "n/a" and rows[2]["roi"] != "n/a"
    assert rows[0]["total"].startswith("$") and " to $" in rows[0]["total"]
    notes = view.summary_notes(res)
    assert any("against scratch: saves $" in n for n in notes)


def test_form_fields_use_the_one_number_parser(prices, model):
    form = dict(view.ESTIMATE_DEFAULTS)
    s = view.scenario_from_form({**form, "params": "125M", "tokens": "2,000,000", "gpus": "4"})
    assert s.params == pytest.approx(1.25e8) and s.tokens == 2e6 and s.gpus == 4
    assert (
        view.scenario_from_form({**form, "trainable_fraction": "0.01"}).trainable_fraction == 0.01
    )
    for field, bad, word in (("gpus", "0", "GPUs"), ("gpus", "1.5", "GPUs"),
                             ("params", "abc", "parameters"), ("tokens", "-5", "tokens"),
                             ("trainable_fraction", "0", "trainable fraction")):  # fmt: skip
        with pytest.raises(NumberError, match=word):
            view.estimate({**form, field: bad}, prices, model)
    with pytest.raises(UsageError, match=r"\(0, 1\]"):
        view.scenario_from_form({**form, "trainable_fraction": "1.5"})
    with pytest.raises(UsageError, match="both"):
        view.estimate({**form, "labelled_samples": "1000"}, prices, model)


def test_form_choices_come_from_the_price_table(prices):
    opts = view.estimate_options(prices)
    assert view.ESTIMATE_DEFAULTS["gpu"] in opts["gpu"] and "CPU" not in opts["gpu"]
    assert "bf16" in opts["precision"] and len(opts["provider"]) >= 2


def test_fine_tune_fields_and_the_gpus_default_precision(prices, model):
    form = {**view.ESTIMATE_DEFAULTS, "tokens": "", "samples": "52k", "seq_len": "512",
            "epochs": "3", "gpu": "V100-32GB-SXM2"}  # fmt: skip
    s = view.scenario_from_form(form)
    assert s.tokens == pytest.approx(52e3 * 512 * 3) and s.epochs == 3 and s.seq_len == 512
    assert s.precision is None  # the accelerator's own: fp16 on a V100
    res = view.estimate({**form, "scratch_tokens": "10B"}, prices, model)
    rows = res["strategies"].set_index("strategy")
    assert set(rows["precision"]) == {"fp16"}
    assert rows.loc["scratch", "flops"] > rows.loc["full-finetune", "flops"]  # 10B tokens
    # no seq_len: a model without sequences, priced on samples x epochs as the CLI does
    flat = view.scenario_from_form({**form, "seq_len": ""})
    assert flat.tokens == pytest.approx(52e3 * 3) and flat.seq_len is None
