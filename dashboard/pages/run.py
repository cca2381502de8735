"""One run: telemetry timelines per GPU (or the host's CPU and RAM), FLOPs and MFU, the cost
breakdown and what the run would have cost on each provider. A running run refreshes itself."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html

from costlens.core.errors import RunNotFoundError
from dashboard import components, figures
from dashboard.views import run as view
from dashboard.views import state

dash.register_page(
    __name__,
    path_template="/runs/<run_id>",
    name="Run",
    title="costlens: run",
    order=10,
)

REFRESH_MS = 5_000


def timelines(run_id: str) -> list:
    """The run's timeline graphs, read afresh (the refresh callback's output)."""
    return timeline_graphs(view.run_timeline(state.current().store, run_id))


def timeline_graphs(tl: object) -> list:
    """Graphs of a timeline from :func:`dashboard.views.run.run_timeline`."""
    if view.has_gpu_readings(tl):
        figs = [
            figures.timeline(tl, "gpu_util_pct", title="GPU utilisation", unit="%"),
            figures.timeline(tl, "mem_used_gib", title="GPU memory used", unit="GiB"),
            figures.timeline(tl, "power_w", title="GPU power", unit="W"),
        ]
    else:
        figs = [
            figures.timeline(tl, "host_cpu_pct", title="Host CPU", unit="%", gpu=False),
            figures.timeline(tl, "host_ram_gib", title="Host RAM used", unit="GiB", gpu=False),
        ]
    return [html.Div(components.graph(f), className="timeline") for f in figs]


def layout(run_id: str | None = None, **_query: str) -> html.Div:
    app = state.current()
    try:
        record, detail, timeline = view.page_data(app.store, app.prices, run_id or "")
    except RunNotFoundError as exc:
        return html.Div([html.H1("Run"), components.notice(str(exc), kind="error", id="run-error")])
    running = record["status"] == "running"
    cost_parts = view.cost_parts(detail)
    alts = view.provider_alternatives(detail)
    return html.Div(
        [
            dcc.Store(id="run-id", data=record["id"]),
            dcc.Interval(id="run-refresh", interval=REFRESH_MS, disabled=not running),
            html.H1(["Run ", html.Span(record.get("name") or record["id"][:12], id="run-name")]),
            html.Div(
                "running: refreshes every 5 s" if running else "",
                id="run-live",
                className="muted",
            ),
            html.Div(
                [
                    html.Div(
                        components.key_values(view.run_facts(record, detail), id="run-facts"),
                        className="col",
                    ),
                    html.Div(
                        components.graph(figures.cost_breakdown(cost_parts), id="run-cost"),
                        className="col",
                    ),
                ],
                className="two-col",
            ),
            html.Div(
                [html.P(t) for t in view.quote_text(detail)], className="muted", id="run-quote"
            ),
            html.H3("Telemetry"),
            html.Div(timeline_graphs(timeline), id="run-timelines", className="timelines"),
            html.H3("Logged metrics"),
            components.key_values(view.target_items(app.store, record), id="run-target"),
            components.key_values(view.metric_items(record), id="run-metrics")
            if record.get("metrics")
            else html.P("No metrics logged (run.log(...)).", className="muted"),
            html.H3("What this run would have cost elsewhere"),
            components.graph(
                figures.provider_costs(alts, current_provider=record.get("provider")),
                id="run-providers",
            ),
        ]
    )


@callback(
    Output("run-timelines", "children"),
    Output("run-refresh", "disabled"),
    Output("run-live", "children"),
    Input("run-refresh", "n_intervals"),
    State("run-id", "data"),
    prevent_initial_call=True,
)
def _refresh(_n: int, run_id: str):
    status = view.run_status(state.current().store, run_id)
    live = "running: refreshes every 5 s" if status == "running" else f"status: {status}"
    return timelines(run_id), status != "running", live
