"""Reconcile: an uploaded FOCUS bill (CSV) matched to the recorded runs: billed, explained by
runs, idle and out of scope (they add up to the bill), per instance and per project, and the
reasons for the gap between costlens's priced figure and the billed one."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from costlens.core.errors import CostlensError
from dashboard import components
from dashboard.views import reconcile as view
from dashboard.views import state

dash.register_page(
    __name__, path="/reconcile", name="Reconcile", title="costlens: reconcile", order=6
)

FIGURES = [("billed", "billed"), ("explained", "by runs"), ("idle", "idle"),
           ("priced", "costlens US$"), ("gap", "gap")]  # fmt: skip


def result(upload: dict | None) -> list:
    """The reconciliation's totals, tables and reasons (also the bill's callback)."""
    if not upload:
        return [components.notice(
            "Drop a FOCUS cost-and-usage export (CSV) of your cloud bill: each billed instance "
            "(ResourceId) is matched to the runs recorded on it (their instance id) over its "
            "charge period.", id="reconcile-hint")]  # fmt: skip
    try:
        app = state.current()
        rec = view.reconcile_upload(upload, store=app.store, prices=app.prices)
    except CostlensError as exc:  # a bad bill: its one message names the row and column
        return [components.notice(str(exc), kind="error", id="reconcile-error")]
    reasons = view.gap_reasons(rec)
    return [
        components.kpi_row([components.kpi(*card) for card in view.totals(rec)]),
        html.H2("Per instance"),
        components.simple_table(
            [("instance", "instance"), ("project", "project"), ("runs", "runs"), *FIGURES,
             ("reasons", "reasons for the gap")],
            view.instance_rows(rec), id="reconcile-instances",
        ),
        html.H2("Per project"),
        components.simple_table(
            [("project", "project"), ("instances", "instances it alone used"), *FIGURES],
            view.project_rows(rec), id="reconcile-projects",
        ),
        html.H2("Out of scope"),
        components.simple_table([("reason", "reason"), ("lines", "lines"), ("billed", "billed")],
                                view.out_of_scope_rows(rec), id="reconcile-out-of-scope"),
        html.H2("Why the bill and costlens differ"),
        html.Ul([html.Li(r) for r in reasons] or [html.Li("no gap above 0.5%")],
                id="reconcile-reasons"),
    ]  # fmt: skip


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.H1("Reconcile with the bill"),
            dcc.Store(id="reconcile-bill", data=None),
            html.Div(
                [
                    html.Label("Bill", htmlFor="reconcile-source"),
                    html.Div(view.NO_BILL_LABEL, id="reconcile-source", className="muted"),
                    dcc.Upload(
                        id="reconcile-upload",
                        children=html.Div(["Drop a FOCUS bill (.csv) here or ",
                                           html.A("choose a file")]),
                        className="upload",
                        multiple=False,
                    ),
                ],
                className="field",
            ),
            dcc.Loading(html.Div(result(None), id="reconcile-result")),
        ]
    )  # fmt: skip


@callback(
    Output("reconcile-bill", "data"),
    Output("reconcile-source", "children"),
    Input("reconcile-upload", "contents"),
    State("reconcile-upload", "filename"),
    prevent_initial_call=True,
)
def _bill_chosen(contents: str | None, filename: str | None):
    try:
        return view.choose_bill(contents, filename)
    except CostlensError as exc:
        return no_update, f"upload refused: {exc}"


@callback(
    Output("reconcile-result", "children"),
    Input("reconcile-bill", "data"),
    prevent_initial_call=True,
)
def _reconcile(upload: dict | None) -> list:
    return result(upload)
