"""Estimate: a what-if form over the estimator's inputs; predicted cost per strategy with its
80% interval, on the cheapest instance and on each provider."""

from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html

from costlens.core.errors import CostlensError
from dashboard import components, figures
from dashboard.views import estimate as view
from dashboard.views import state

dash.register_page(__name__, path="/estimate", name="Estimate", title="costlens: estimate", order=3)

TEXT_FIELDS = (
    ("params", "Model parameters (e.g. 1.3B, 125M)"),
    ("tokens", "Training tokens, every epoch counted (e.g. 20B)"),
    ("samples", "or: training samples per epoch (fine-tunes, e.g. 52k)"),
    ("seq_len", "Tokens per sample (padded or mean; adds the attention term)"),
    ("epochs", "Epochs over the samples (default 1)"),
    ("scratch_tokens", "Tokens scratch training needs (optional)"),
    ("gpus", "GPUs"),
    ("trainable_fraction", "Trainable fraction, LoRA / frozen head (0-1, optional)"),
    ("labelled_samples", "Labelled samples for transfer (optional)"),
    ("scratch_labelled_samples", "Labelled samples from scratch (optional)"),
    ("usd_per_label", "US$ per label (optional)"),
)


def result(form: dict) -> list:
    """The estimate's figure and tables for the form's values (also the button's callback)."""
    app = state.current()
    try:
        res = view.estimate(form, app.prices, app.model)
    except CostlensError as exc:  # a bad field or scenario: say which, keep the form
        return [components.notice(str(exc), kind="error", id="estimate-error")]
    notes = view.summary_notes(res)
    return [
        html.Div([html.P(n) for n in notes], className="notice notice-info", id="estimate-summary"),
        components.graph(figures.estimate_bars(res["by_provider"]), id="estimate-graph"),
        html.H3("Per strategy, cheapest instance (80% intervals)"),
        components.simple_table(
            [("strategy", "strategy"), ("total", "total US$"), ("compute", "compute US$"),
             ("labels", "labels US$"), ("gpu_hours", "GPU-hours"), ("wall_hours", "wall hours"),
             ("energy", "energy kWh"), ("savings", "saves vs scratch"), ("roi", "ROI"),
             ("where", "priced at"), ("mfu", "MFU assumed"), ("extrapolation", "extrapolated")],
            view.estimate_rows(res["strategies"]),
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
    options = view.estimate_options(state.current().prices)
    d = view.ESTIMATE_DEFAULTS
    fields = [_field(k, label, d[k]) for k, label in TEXT_FIELDS]
    fields.insert(
        6,
        html.Div(
            [html.Label("Accelerator", htmlFor="est-gpu"),
             dcc.Dropdown(id="est-gpu", options=options["gpu"], value=d["gpu"], clearable=False)],
            className="field",
        ),
    )  # fmt: skip
    precisions = [{"label": p or "the GPU's default", "value": p} for p in options["precision"]]
    fields.insert(
        8,
        html.Div(
            [html.Label("Precision", htmlFor="est-precision"),
             dcc.Dropdown(id="est-precision", options=precisions, value=d["precision"],
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
    *[State(f"est-{k}", "value") for k in view.ESTIMATE_FORM_IDS],
)
def _estimate(_clicks: int, *values: object) -> list:
    form = dict(zip(view.ESTIMATE_FORM_IDS, values, strict=True))
    form["spot"] = bool(form["spot"])
    return result(form)
