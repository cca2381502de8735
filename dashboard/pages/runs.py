"""Runs: every recorded run in a sortable table, filtered by project, status and strategy."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboard import components
from dashboard.views import runs as view
from dashboard.views import state

dash.register_page(__name__, path="/runs", name="Runs", title="costlens: runs", order=1)

FILTERS = (("project", "Project"), ("status", "Status"), ("strategy", "Strategy"))
PAGE_SIZE = 25


def page(filters: tuple, sort_by: list | None, page_current: int | None) -> tuple:
    """(rows, total matching runs, count text) of one table page (the grid's data source)."""
    project, status, strategy = filters
    app = state.current()
    rows, total = view.runs_page(
        app.store, app.prices, project=project, status=status, strategy=strategy,
        sort_by=sort_by, page=page_current or 0, page_size=PAGE_SIZE,
    )  # fmt: skip
    return rows, total, f"{total:,} runs"


def layout(**query: str) -> html.Div:
    """The page; ``?project=P&strategy=S&status=X`` (a link from another page) preselects those
    filters when they are among the choices."""
    store = state.current().store
    if state.is_empty(store):
        return html.Div([html.H1("Runs"), components.first_run_help()])
    options = view.filter_options(store)
    chosen = {k: query.get(k) if query.get(k) in options[k] else None for k, _ in FILTERS}
    filters = html.Div(
        [
            html.Div(
                [
                    html.Label(label, htmlFor=f"runs-filter-{key}"),
                    dcc.Dropdown(
                        id=f"runs-filter-{key}",
                        options=options[key],
                        value=chosen[key],
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
            html.Div(
                page(tuple(chosen[k] for k, _ in FILTERS), None, 0)[2],
                id="runs-count",
                className="muted",
            ),
            html.Div(
                components.runs_table(
                    id="runs-table", page_size=PAGE_SIZE, hide=view.hidden_columns(store)
                ),
                id="runs-grid-box",
            ),
        ]
    )


@callback(
    Output("runs-grid-box", "children"),
    Output("runs-count", "children"),
    Input("runs-filter-project", "value"),
    Input("runs-filter-status", "value"),
    Input("runs-filter-strategy", "value"),
    prevent_initial_call=True,
)
def _filters_changed(project, status, strategy):
    # A new grid: its data source starts again at the first page, with the new filters.
    _, _, text = page((project, status, strategy), None, 0)
    hide = view.hidden_columns(state.current().store)
    return components.runs_table(id="runs-table", page_size=PAGE_SIZE, hide=hide), text


@callback(
    Output("runs-table", "getRowsResponse"),
    Input("runs-table", "getRowsRequest"),
    State("runs-filter-project", "value"),
    State("runs-filter-status", "value"),
    State("runs-filter-strategy", "value"),
    prevent_initial_call=True,
)
def _rows_asked(request, project, status, strategy):
    sort_by, number = view.grid_request(request, PAGE_SIZE)
    rows, total, _ = page((project, status, strategy), sort_by, number)
    return {"rowData": rows, "rowCount": total}
