"""Any unknown path."""

from __future__ import annotations

import dash
from dash import dcc, html

dash.register_page(__name__, path="/404", name="Not found", title="costlens: not found")


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.H1("Page not found"),
            html.P(["Go back to the ", dcc.Link("overview", href="/"), "."]),
        ]
    )
