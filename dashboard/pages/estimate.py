"""Estimate: a what-if form over the estimator's inputs; predicted cost per strategy with its
80% interval, on the cheapest instance and on each provider."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboard import components, data, figures

dash.register_page(__name__, path="/estimate", name="Estimate", title="costlens: estimate", order=3)

TEXT_FIELDS = (
    ("params", "Model parameters (e.g. 1.3B, 125M)"),
    ("tokens", "Training tokens or samples x epochs (e.g. 20B)"),
    ("gpus", "GPUs"),
    ("trainable_fraction", "Trainable fraction, LoRA / frozen head (0-1, optional)"),
    ("labelled_samples", "Labelled samples for transfer (optional)"),
    ("scratch_labelled_samples", "Labelled samples from scratch (optional)"),
    ("usd_per_label", "US$ per label (optional)"),
)


def result(form: dict) -> list:
    """The estimate's figure and tables for the form's values (also the button's callback)."""
    try:
        res = data.estimate(form)
    except Exception as exc:  # a bad field or scenario: say which, keep the form
        return [components.notice(data.error_text(exc), kind="error", id="estimate-error")]
    if res is None:
        return [components.not_available("estimator")]
    s = res["summary"]
    notes = []
    if s.get("savings_usd") is not None and s.get("compared_strategy"):
        notes.append(
            f"{s['compared_strategy']} against scratch: saves ${s['savings_usd']:,.0f} "
            f"(80%: ${s['savings_usd_low']:,.0f} to ${s['savings_usd_high']:,.0f}), "
            f"ROI {s['roi']:.2f}. Cheapest strategy: {s.get('best_strategy')}."
        )
    if res["providers_missing"]:
        notes.append("No price for this hardware at: " + ", ".join(res["providers_missing"]) + ".")
    if bool(res["strategies"]["extrapolation"].any()):
        notes.append(
            "Some figures extrapolate beyond the recorded runs the estimator learned from: "
            "their intervals are wider and less certain."
        )
    return [
        html.Div([html.P(n) for n in notes], className="notice notice-info", id="estimate-summary"),
        components.graph(figures.estimate_bars(res["by_provider"]), id="estimate-graph"),
        html.H3("Per strategy, cheapest instance (80% intervals)"),
        components.simple_table(
            [("strategy", "strategy"), ("total", "total US$"), ("compute", "compute US$"),
             ("labels", "labels US$"), ("gpu_hours", "GPU-hours"), ("wall_hours", "wall hours"),
             ("energy", "energy kWh"), ("savings", "saves vs scratch"), ("roi", "ROI"),
             ("where", "priced at"), ("mfu", "MFU assumed"), ("extrapolation", "extrapolated")],
            data.estimate_rows(res["strategies"]),
            id="estimate-table",
        ),
    ]  # fmt: skip


def _field(key: str, label: str, value: object) -> html.Div:
    return html.Div(
        [html.Label(label, htmlFor=f"est-{key}"),
         dcc.Input(id=f"est-{key}", type="text", value=str(value), debounce=True)],
        className="field",
    )  # fmt: skip


def layout(**_query: str) -> html.Div:
    options = data.estimate_options()
    if options is None:
        return html.Div([html.H1("Estimate"), components.not_available("estimator")])
    d = data.ESTIMATE_DEFAULTS
    fields = [_field(k, label, d[k]) for k, label in TEXT_FIELDS]
    fields.insert(
        2,
        html.Div(
            [html.Label("Accelerator", htmlFor="est-gpu"),
             dcc.Dropdown(id="est-gpu", options=options["gpu"], value=d["gpu"], clearable=False)],
            className="field",
        ),
    )  # fmt: skip
    fields.insert(
        4,
        html.Div(
            [html.Label("Precision", htmlFor="est-precision"),
             dcc.Dropdown(id="est-precision", options=options["precision"], value=d["precision"],
                          clearable=False)],
            className="field",
        ),
    )  # fmt: skip
    fields.append(
        html.Div(
            dcc.Checklist(id="est-spot", options=[{"label": " spot prices", "value": "spot"}],
                          value=[]),
            className="field",
        )
    )  # fmt: skip
    return html.Div(
        [
            html.H1("Estimate"),
            html.P(
                "What would a training job cost? Every figure is the estimator's prediction with "
                "its 80% interval (10th to 90th percentile), learned from recorded runs and "
                "dated reference tables.",
                className="muted",
            ),
            html.Div(fields, className="form-grid"),
            html.Button("Estimate", id="est-go", className="primary", n_clicks=0),
            dcc.Loading(html.Div(id="estimate-result")),
        ]
    )


@callback(
    Output("estimate-result", "children"),
    Input("est-go", "n_clicks"),
    *[State(f"est-{k}", "value") for k in data.ESTIMATE_FORM_IDS],
)
def _estimate(_clicks: int, *values: object) -> list:
    form = dict(zip(data.ESTIMATE_FORM_IDS, values, strict=True))
    form["spot"] = bool(form["spot"])
    return result(form)
