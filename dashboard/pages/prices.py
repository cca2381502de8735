"""Prices: $/GPU-hour by accelerator and provider, on-demand and spot, with each table's date."""

from __future__ import annotations

import dash
from dash import html

from dashboard import components, figures
from dashboard.views import prices as view
from dashboard.views import state

dash.register_page(__name__, path="/prices", name="Prices", title="costlens: prices", order=5)


def layout(**_query: str) -> html.Div:
    prices = state.current().prices
    table = view.prices_frame(prices)
    tables = view.price_tables(prices)
    gpu_rows = view.price_rows(table)
    return html.Div(
        [
            html.H1("Prices"),
            html.P(
                "The cheapest listed price per accelerator and provider, per GPU-hour (whole "
                "instance price divided by its GPUs). Each figure comes from a dated price table "
                "(listed below); add your own negotiated prices in ~/.costlens/prices.csv. "
                "A price marked unconfirmed (x in the chart) differs sharply between regions and "
                "could not be checked against the provider's own page.",
                className="muted",
            ),
            components.graph(figures.prices_points(view.offers_frame(prices)), id="prices-graph"),
            html.H3("$/GPU-hour by accelerator and provider"),
            components.simple_table(
                [
                    ("gpu", "accelerator"),
                    ("provider", "provider"),
                    ("on_demand", "on-demand $/GPU-h"),
                    ("spot", "spot $/GPU-h"),
                    ("instances", "instance types"),
                    ("as_of", "as of"),
                ],
                gpu_rows,
                id="prices-table",
            ),
            html.H3("Price tables"),
            components.simple_table(
                [
                    ("provider", "provider"),
                    ("rows", "rows"),
                    ("as_of", "as of"),
                    ("source", "source"),
                ],
                tables.to_dict("records"),
                id="price-tables",
            ),
        ]
    )
