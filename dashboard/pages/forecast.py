"""Forecast: the shipped example plan or an uploaded one -> monthly forecast with its interval
band and a budget line; download as XLSX or CSV."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from costlens.core.errors import CostlensError
from dashboard import components, figures
from dashboard.views import forecast as view
from dashboard.views import state

dash.register_page(__name__, path="/forecast", name="Forecast", title="costlens: forecast", order=4)


def result(upload: dict | None, budget: object, period: str) -> list:
    """The forecast's figure, notes and monthly table (also the inputs' callback)."""
    try:
        app = state.current()
        fc, budget_usd = view.forecast_with_budget(
            upload, budget, period, model=app.model, prices=app.prices
        )
    except CostlensError as exc:  # a bad plan or budget: say what to fix
        return [components.notice(str(exc), kind="error", id="forecast-error")]
    line = budget_usd if period == "month" else None
    return [
        html.Div([html.P(n) for n in view.forecast_notes(fc)], className="notice notice-info",
                 id="forecast-notes"),
        components.graph(figures.forecast_band(fc.months, budget_usd=line), id="forecast-graph"),
        components.simple_table(
            [("month", "month"), ("runs", "runs"), ("cost", "expected US$ (80%)"),
             ("gpu_hours", "GPU-hours (80%)"), ("energy", "energy kWh (80%)"),
             ("over", "budget")],
            view.forecast_rows(fc),
            id="forecast-table",
        ),
    ]  # fmt: skip


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.H1("Forecast"),
            dcc.Store(id="forecast-plan", data=None),
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("Plan", htmlFor="forecast-source"),
                            html.Div(view.EXAMPLE_PLAN_LABEL, id="forecast-source",
                                     className="muted"),
                            dcc.Upload(
                                id="forecast-upload",
                                children=html.Div(["Drop a plan (.csv, .toml, .yaml) here or ",
                                                   html.A("choose a file")]),
                                className="upload",
                                multiple=False,
                            ),
                            html.Button("Use the example plan", id="forecast-example",
                                        className="secondary", n_clicks=0),
                        ],
                        className="field",
                    ),
                    html.Div(
                        [
                            html.Label("Budget, US$ (optional)", htmlFor="forecast-budget"),
                            dcc.Input(id="forecast-budget", type="text", value="",
                                      placeholder="e.g. 20000", debounce=True),
                            html.Label("Budget applies", htmlFor="forecast-period"),
                            dcc.Dropdown(id="forecast-period", clearable=False, value="month",
                                         options=[{"label": "per month", "value": "month"},
                                                  {"label": "to the whole plan",
                                                   "value": "total"}]),
                        ],
                        className="field",
                    ),
                    html.Div(
                        [
                            html.Label("Download"),
                            html.Div(
                                [html.Button("XLSX", id="forecast-xlsx", className="primary",
                                             n_clicks=0),
                                 html.Button("CSV", id="forecast-csv", className="primary",
                                             n_clicks=0)],
                                className="row",
                            ),
                            dcc.Download(id="forecast-download"),
                        ],
                        className="field",
                    ),
                ],
                className="form-grid",
            ),
            dcc.Loading(html.Div(id="forecast-result")),
        ]
    )  # fmt: skip


@callback(
    Output("forecast-plan", "data"),
    Output("forecast-source", "children"),
    Input("forecast-upload", "contents"),
    Input("forecast-example", "n_clicks"),
    State("forecast-upload", "filename"),
    prevent_initial_call=True,
)
def _plan_chosen(contents: str | None, _example: int, filename: str | None):
    use_example = dash.ctx.triggered_id == "forecast-example"
    try:
        return view.choose_plan(use_example, contents, filename)
    except CostlensError as exc:
        return no_update, f"upload refused: {exc}"


@callback(
    Output("forecast-result", "children"),
    Input("forecast-plan", "data"),
    Input("forecast-budget", "value"),
    Input("forecast-period", "value"),
)
def _forecast(upload: dict | None, budget: object, period: str) -> list:
    return result(upload, budget, period)


@callback(
    Output("forecast-download", "data"),
    Input("forecast-xlsx", "n_clicks"),
    Input("forecast-csv", "n_clicks"),
    State("forecast-plan", "data"),
    State("forecast-budget", "value"),
    State("forecast-period", "value"),
    prevent_initial_call=True,
)
def _download(_x: int, _c: int, upload: dict | None, budget: object, period: str):
    fmt = "xlsx" if dash.ctx.triggered_id == "forecast-xlsx" else "csv"
    app = state.current()
    content, name = view.forecast_download(
        upload, budget, period, fmt, model=app.model, prices=app.prices
    )
    return dcc.send_bytes(content, name)
