"""Transfer vs scratch: recorded runs of one project side by side, the measured savings and ROI,
next to the commonly claimed saving (a quoted industry claim, not a costlens figure)."""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, callback, dcc, html

from dashboard import components, figures
from dashboard.views import state
from dashboard.views import transfer as view

dash.register_page(
    __name__, path="/transfer", name="Transfer vs scratch", title="costlens: transfer vs scratch",
    order=2,
)  # fmt: skip


def claim_box() -> html.Div:
    c = view.claimed_saving()
    return html.Div(
        [
            html.Strong("Commonly claimed (industry claim, not measured by costlens): "),
            html.Span(f"\u201c{c['wording']}\u201d", className="claim"),
            html.Div(f"Source: {c['source']} (as of {c['as_of']}).", className="muted"),
        ],
        className="notice notice-info",
        id="transfer-claim",
    )


def _saving_text(r: dict) -> str:
    low, high = r["saving_pct_low"], r["saving_pct_high"]
    if low is None or pd.isna(low):
        return f"{r['saving_pct']:+.0f}%"
    return f"{r['saving_pct']:+.0f}% [{low:+.0f}, {high:+.0f}]"


def _comparison_section(cmp: dict, claimed_pct: float | None) -> list:
    """The savings chart, the verdict sentence, the comparisons table and what is not measured."""
    rows = [
        {"label": r["label"], "repeats": str(r["repeats"]),
         "reached": "-" if r["reached"] is None or pd.isna(r["reached"])
         else f"{int(r['reached'])}/{r['repeats']}",
         "saving": _saving_text(r), "verdict": r["verdict"], "basis": r["basis"]}
        for r in cmp["comparisons"].to_dict("records")
    ]  # fmt: skip
    return [
        components.graph(
            figures.savings_bars(cmp["comparisons"], claimed_pct=claimed_pct),
            id="transfer-savings-graph",
        ),
        html.P(cmp["verdict"], className="verdict", id="transfer-verdict")
        if cmp.get("verdict")
        else html.Div(),
        components.simple_table(
            [("label", "comparison"), ("repeats", "runs"), ("reached", "reached target"),
             ("saving", "saving [95% interval]"), ("verdict", "verdict"), ("basis", "measured on")],
            rows,
            id="transfer-cells",
        ),
        html.Ul([html.Li(t) for t in cmp["unmeasured"]], id="transfer-unmeasured",
                className="muted")
        if cmp["unmeasured"]
        else html.Div(),
    ]  # fmt: skip


def body(project: str | None, metric: str | None) -> list:
    """The comparison for one project (also the dropdowns' callback)."""
    if not project:
        return [components.notice("Choose a project.")]
    app = state.current()
    cmp = view.transfer_comparison(app.store, app.prices, project, metric)
    claim = view.claimed_saving()
    verdicts = [html.Li(n) for n in cmp["notes"]]
    details = (
        html.Details(
            [
                html.Summary(
                    f"What each transfer run did against its scratch runs ({len(verdicts)} notes)"
                ),
                html.Ul(verdicts),
            ],
            id="transfer-verdicts",
        )
        if verdicts
        else html.Div()
    )
    roi_rows = [
        {"label": r["label"], "savings": components.money(r["savings_usd"]),
         "roi": f"{r['roi']:.2f}", "basis": r["basis"]}
        for r in cmp["roi"].to_dict("records")
    ]  # fmt: skip
    runs_rows = [
        {**r, "cost": components.money(r["cost_usd"]),
         "hours": components.number(r["duration_h"]),
         "energy": components.number(r["energy_kwh"]),
         "labelled_text": components.number(r["labelled"]),
         "metric_text": components.number(r["metric"], sig=4)}
        for r in cmp["runs"].to_dict("records")
    ]  # fmt: skip
    return [
        html.P(
            f"{len(cmp['runs'])} completed runs; each transfer strategy is compared with the "
            f"scratch runs of the same model size and labelled data (of "
            f"{cmp['scratch_runs']} scratch run(s)); repeated runs of one width \u00d7 labels "
            "\u00d7 strategy make one comparison, with a 95% interval."
            + (f" {cmp['excluded']} unfinished run(s) left out." if cmp["excluded"] else "")
            + (f" {cmp['older']} older completed run(s) not shown (the newest "
               f"{view.TRANSFER_RUNS_PER_STRATEGY} of each strategy are compared)."
               if cmp["older"] else ""),
            className="muted",
        ),
        *_comparison_section(cmp, claim["saving_pct"]),
        components.graph(figures.transfer_bars(cmp["runs"]), id="transfer-runs-graph"),
        details,
        html.H3("Runs"),
        components.simple_table(
            [("name", "run"), ("strategy", "strategy"), ("cost", "US$"), ("hours", "hours"),
             ("energy", "kWh"), ("labelled_text", "labelled samples"),
             ("metric_text", f"final {cmp['metric']}" if cmp["metric"] else "final metric")],
            runs_rows,
            link_column="name",
            id="transfer-table",
        ),
        html.H3("Measured savings and ROI against scratch"),
        components.simple_table(
            [("label", "transfer run"), ("savings", "saved US$"),
             ("roi", "ROI (saved / transfer cost)"), ("basis", "compared with scratch runs of")],
            roi_rows,
            id="transfer-roi",
        )
        if roi_rows
        else components.notice("No priced transfer run to compute an ROI."),
    ]  # fmt: skip


def layout(**_query: str) -> html.Div:
    app = state.current()
    if state.is_empty(app.store):
        return html.Div([html.H1("Transfer vs scratch"), components.first_run_help()])
    projects = view.transfer_projects(app.store)
    head = [html.H1("Transfer vs scratch"), claim_box()]
    if not projects:
        return html.Div(
            [*head, components.notice(
                "No project has both a scratch run and a transfer run (full-finetune, lora or "
                "frozen-features) yet. Record both, with the same project name and "
                "strategy=..., to compare them here.", id="transfer-none")]
        )  # fmt: skip
    first = view.transfer_comparison(app.store, app.prices, projects[0])
    return html.Div(
        [
            *head,
            html.Div(
                [
                    html.Div([html.Label("Project", htmlFor="transfer-project"),
                              dcc.Dropdown(id="transfer-project", options=projects,
                                           value=projects[0], clearable=False)],
                             className="filter"),
                    html.Div([html.Label("Final metric", htmlFor="transfer-metric"),
                              dcc.Dropdown(id="transfer-metric", options=first["metrics"],
                                           value=first["metric"], clearable=False)],
                             className="filter"),
                ],
                className="filters",
            ),
            dcc.Loading(html.Div(body(projects[0], first["metric"]), id="transfer-body")),
        ]
    )  # fmt: skip


@callback(
    Output("transfer-body", "children"),
    Input("transfer-project", "value"),
    Input("transfer-metric", "value"),
    prevent_initial_call=True,
)
def _changed(project: str | None, metric: str | None) -> list:
    return body(project, metric)


@callback(
    Output("transfer-metric", "options"),
    Output("transfer-metric", "value"),
    Input("transfer-project", "value"),
    prevent_initial_call=True,
)
def _project_changed(project: str | None):
    return view.transfer_metrics(state.current().store, project)
