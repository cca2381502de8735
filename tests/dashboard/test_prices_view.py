"""The prices page's view of the one price table."""

from __future__ import annotations

from dashboard.views import prices as view


def test_prices_by_accelerator_and_provider_with_dates(prices):
    table = view.prices_frame(prices)
    assert {"gpu", "provider", "usd_per_gpu_hour", "spot_usd_per_gpu_hour", "as_of"} <= set(table)
    h100 = table[table["gpu"] == "H100-SXM"]
    assert h100["provider"].nunique() >= 2 and (h100["usd_per_gpu_hour"] > 0).all()
    cheapest = prices.cheapest("H100-SXM", 8)
    assert h100["usd_per_gpu_hour"].min() <= cheapest.billed_usd_per_gpu_hour(8) + 1e-9
    tables = view.price_tables(prices)
    assert tables["as_of"].str.match(r"\d{4}-\d{2}").all() and (tables["rows"] > 0).all()
    rows = view.price_rows(table)
    assert float(rows[0]["on_demand"].split()[0].lstrip("$").replace(",", "")) > 0
    assert any(r["gpu"] == "CPU (per instance-hour)" for r in rows)


def test_every_offer_with_its_confirmed_flag_and_the_mark_in_the_table(prices):
    offers = view.offers_frame(prices)
    assert "CPU" not in set(offers["gpu"])
    flagged = offers[~offers["confirmed"]]
    # the shipped GCP rows whose price differs >25% between regions carry an UNCONFIRMED note
    assert len(flagged) == 32 and set(flagged["provider"]) == {"gcp"}
    assert flagged["note"].str.startswith("UNCONFIRMED").all()
    rows = view.price_rows(view.prices_frame(prices))
    marked = [r for r in rows if r["on_demand"].endswith("(unconfirmed)")]
    assert marked and all(r["provider"] == "gcp" for r in marked)
