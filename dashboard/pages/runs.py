"""Runs: every recorded run in a sortable table, filtered by project, status and strategy."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from dashboard import components
from dashboard.views import runs as view
from dashboard.views import state

dash.register_page(__name__, path="/runs", name="Runs", title="costlens: runs", order=1)

FILTERS = (("project", "Project"), ("status", "Status"), ("strategy", "Strategy"))


PAGE_SIZE = 25


def page(filters: tuple, sort_by: list | None, page_current: int | None) -> tuple:
    """(rows, page count, count text) of one table page (also the table's callback)."""
    project, status, strategy = filters
    app = state.current()
    rows, total = view.runs_page(
        app.store, app.prices, project=project, status=status, strategy=strategy,
        sort_by=sort_by, page=page_current or 0, page_size=PAGE_SIZE,
    )  # fmt: skip
    return rows, max(1, -(-total // PAGE_SIZE)), f"{total:,} runs"


def layout(**_query: str) -> html.Div:
    store = state.current().store
    if state.is_empty(store):
        return html.Div([html.H1("Runs"), components.first_run_help()])
    options = view.filter_options(store)
    first = page((None, None, None), None, 0)
    filters = html.Div(
        [
            html.Div(
                [
                    html.Label(label, htmlFor=f"runs-filter-{key}"),
                    dcc.Dropdown(
                        id=f"runs-filter-{key}",
                        options=options[key],
                        placeholder=f"any {key}",
                        clearable=True,
                    ),
                ],
                className="filter",
            )
            for key, label in FILTERS
        ],
        className="filters",
    )
    return html.Div(
        [
            html.H1("Runs"),
            filters,
            html.Div(first[2], id="runs-count", className="muted"),
            components.runs_table(
                first[0], id="runs-table", page_count=first[1], page_size=PAGE_SIZE
            ),
        ]
    )


@callback(
    Output("runs-table", "data"),
    Output("runs-table", "page_count"),
    Output("runs-count", "children"),
    Output("runs-table", "page_current"),
    Input("runs-filter-project", "value"),
    Input("runs-filter-status", "value"),
    Input("runs-filter-strategy", "value"),
    Input("runs-table", "sort_by"),
    Input("runs-table", "page_current"),
    prevent_initial_call=True,
)
def _table_changed(project, status, strategy, sort_by, page_current):
    # A new filter or sort starts again at the first page.
    paging = "runs-table.page_current" in dash.ctx.triggered_prop_ids
    current = (page_current or 0) if paging else 0
    rows, count, text = page((project, status, strategy), sort_by, current)
    return rows, count, text, current
