"""Overview: spend, GPU-hours, energy, utilisation, MFU and idle waste; spend over time; the
costliest runs."""

from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from costlens.core.units import BYTES_PER_GIB
from dashboard import components, figures
from dashboard.views import overview as view
from dashboard.views import state
from dashboard.views.runs import table_rows

dash.register_page(__name__, path="/", name="Overview", title="costlens: overview", order=0)


def body(period: str) -> list:
    """The overview for one period (also the period dropdown's callback)."""
    app = state.current()
    ov = view.overview(app.store, app.prices, period)
    cards = cpu_cards(ov) if ov["cpu_only"] else gpu_cards(ov)
    costliest = table_rows(ov["costliest"])
    return [
        components.kpi_row(cards),
        components.graph(figures.spend_over_time(ov["spend"]), id="spend-graph"),
        html.H3("Costliest runs"),
        components.simple_table(
            [
                ("run", "run"),
                ("name", "name"),
                ("project", "project"),
                ("strategy", "strategy"),
                ("device", "hardware"),
                ("device_hours", "hours"),
                ("cost_usd", "US$"),
            ],
            [{**r, "run": r["id"][:12]} for r in costliest],
            link_column="run",
            id="costliest-table",
        )
        if costliest
        else components.notice("No priced run in this period."),
    ]


def _spend_card(ov: dict) -> html.Div:
    return components.kpi(
        "Total spend",
        components.money(ov["cost_usd"]),
        None if ov["priced"] or not ov["runs"] else "prices not available",
    )


def cpu_cards(ov: dict) -> list:
    """Headline figures of a period whose runs used no GPU: what the host readings measured."""
    ram = ov["host_ram_peak_bytes"]
    bases = ov["cpu_energy_bases"]
    return [
        components.kpi("Runs", f"{ov['runs']:,}", "CPU only: no GPU was used"),
        _spend_card(ov),
        components.kpi("Run-hours", components.number(ov["run_hours"]), "wall clock"),
        components.kpi(
            "Process CPU-hours",
            components.number(ov["process_cpu_hours"]),
            "CPU time of the training processes (1 = one CPU busy for an hour)",
        ),
        components.kpi(
            "Peak process memory",
            components.number(None if ram is None else ram / BYTES_PER_GIB, "GiB"),
        ),
        components.kpi(
            "Host CPU energy",
            components.number(ov["cpu_energy_kwh"], "kWh"),
            ("estimated from CPU load and TDP" if bases == ["estimate"] else
             ", ".join(bases) if bases else "not recorded for these runs"),
        ),
    ]  # fmt: skip


def gpu_cards(ov: dict) -> list:
    """Headline figures of a period with GPU runs."""
    return [
        components.kpi("Runs", f"{ov['runs']:,}"),
        _spend_card(ov),
        components.kpi("GPU-hours", components.number(ov["gpu_hours"])),
        components.kpi("Energy", components.number(ov["energy_kwh"], "kWh")),
        components.kpi(
            "Avg GPU utilisation",
            components.percent(ov["gpu_util_mean_pct"] and ov["gpu_util_mean_pct"] / 100),
        ),
        components.kpi("Avg MFU", components.percent(ov["mfu_mean"], digits=1)),
        components.kpi(
            "Idle waste",
            components.money(ov["idle_waste_usd"]),
            f"cost share of GPU readings under {ov['idle_threshold_pct']:g}% utilisation",
        ),
    ]


def layout(**_query: str) -> html.Div:
    if state.is_empty(state.current().store):
        return html.Div([html.H1("Overview"), components.first_run_help()])
    return html.Div(
        [
            html.Div(
                [
                    html.H1("Overview"),
                    dcc.Dropdown(
                        id="overview-period",
                        options=list(view.PERIODS),
                        value=view.DEFAULT_PERIOD,
                        clearable=False,
                        className="period",
                    ),
                ],
                className="title-row",
            ),
            dcc.Loading(html.Div(body(view.DEFAULT_PERIOD), id="overview-body")),
        ]
    )


@callback(
    Output("overview-body", "children"),
    Input("overview-period", "value"),
    prevent_initial_call=True,
)
def _period_changed(period: str) -> list:
    return body(period)
