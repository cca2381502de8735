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
    assert float(rows[0]["on_demand"].replace(",", "")) > 0
    assert any(r["gpu"] == "CPU (per instance-hour)" for r in rows)
