"""Transfer vs scratch, around the answer: the claim, the verdicts at equal quality, the
cost-quality frontier, the payback; the per-run rows are one link away, in the runs table."""

from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, callback, dcc, html

from costlens.core.fmt import score
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
            html.Span(f" Source: {c['source']} (as of {c['as_of']}).", className="muted"),
        ],
        className="notice notice-info",
        id="transfer-claim",
    )


def _known(value) -> bool:
    return value is not None and not pd.isna(value)


def _saving_text(r: dict) -> str:
    if not _known(r["saving_pct"]):
        return components.MISSING
    low, high = r["saving_pct_low"], r["saving_pct_high"]
    if not _known(low):
        return f"{r['saving_pct']:+.0f}%"
    return f"{r['saving_pct']:+.0f}% [{low:+.0f}, {high:+.0f}]"


CELL_TABLE = (
    ("label", "comparison"), ("reached", "reached target"), ("scratch_reached", "scratch reached"),
    ("best", "best accuracy"), ("to_target", "cost to target"),
    ("scratch_to_target", "scratch cost to target"), ("saving", "saving [95%]"),
    ("verdict", "verdict"),
)  # fmt: skip


def _cell_rows(cells: pd.DataFrame) -> list[dict]:
    return [
        {"label": r["label"], "reached": r["reached"], "scratch_reached": r["scratch_reached"],
         "best": score(r["best_accuracy"]) if _known(r["best_accuracy"]) else None,
         "to_target": components.money(r["cost_to_target_usd"])
         if _known(r["cost_to_target_usd"]) else "not reached",
         "scratch_to_target": components.money(r["scratch_cost_to_target_usd"])
         if _known(r["scratch_cost_to_target_usd"]) else "not reached",
         "saving": _saving_text(r), "verdict": r["verdict"] or components.MISSING}
        for r in cells.to_dict("records")
    ]  # fmt: skip


def _payback(rows: list[dict]) -> html.Div:
    if not rows:
        return html.Div(id="transfer-payback")
    shown = [
        {"where": f"w{r['width']} \u00d7 {r['labels']} labels",
         "pretraining": components.money(r["pretrain_cost_usd"]),
         "saves": components.money(r["saved_per_job_usd"])
         if r["verdict"] == "saves" and r["saved_per_job_usd"] else "no saving",
         "break_even": f"{r['break_even_jobs']:.1f} fine-tunes" if r["break_even_jobs"]
         else "never"}
        for r in rows
    ]  # fmt: skip
    return html.Div(
        [
            html.H3("Payback: after how many fine-tunes pretraining pays for itself"),
            components.simple_table(
                [
                    ("where", "full fine-tuning at"),
                    ("pretraining", "pretraining cost"),
                    ("saves", "saved per fine-tune (at target)"),
                    ("break_even", "break-even"),
                ],
                shown,
            ),
        ],
        id="transfer-payback",
    )


def _charts(cmp: dict, claimed_pct: float | None) -> html.Div:
    frontier = pd.DataFrame(cmp["frontier_points"],
                            columns=["strategy", "cost_usd", "value", "run_id"])  # fmt: skip
    return html.Div(
        [
            components.graph(
                figures.frontier_lines(frontier, target=cmp["target"], metric=cmp["metric"]),
                id="transfer-frontier-graph",
            ),
            components.graph(
                figures.savings_bars(cmp["comparisons"], claimed_pct=claimed_pct),
                id="transfer-savings-graph",
            ),
        ],
        className="two-col",
        style={"display": "grid", "gridTemplateColumns": "1fr 1fr", "gap": "12px"},
    )


def body(project: str | None) -> list:
    """The answer for one project (also the dropdown's callback)."""
    if not project:
        return [components.notice("Choose a project.")]
    app = state.current()
    cmp = view.transfer_comparison(app.store, app.prices, project)
    excluded, older = cmp["excluded"], cmp["older"]
    left_out = (f" {excluded} unfinished run(s) left out." if excluded else "") + (
        f" {older} older completed run(s) not compared (the newest "
        f"{view.TRANSFER_RUNS_PER_STRATEGY} of each strategy are)."
        if older
        else ""
    )
    return [
        html.P(
            cmp["summary"] or "No transfer cell could be compared with scratch yet.",
            className="verdict",
            id="transfer-summary",
        ),
        html.P(
            cmp["verdict"] + " Dollars are each run's bill (wall time on its instance), as "
            "`costlens cost` gives them." + left_out,
            className="muted",
            id="transfer-verdict",
        ),
        components.simple_table(list(CELL_TABLE), _cell_rows(cmp["cells"]), id="transfer-cells")
        if not cmp["cells"].empty
        else html.Div(),
        _charts(cmp, view.claimed_saving()["saving_pct"]),
        _payback(cmp["payback"]),
        html.P(
            [
                f"Every run of {project}, with its cost, time and metrics: ",
                dcc.Link(
                    "the runs table, filtered to this project",
                    href=cmp["runs_link"],
                    id="transfer-runs-link",
                ),
                ".",
            ],
            className="muted",
        ),
    ]


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
    return html.Div(
        [
            *head,
            html.Div(
                html.Div(
                    [
                        html.Label("Project", htmlFor="transfer-project"),
                        dcc.Dropdown(
                            id="transfer-project",
                            options=projects,
                            value=projects[0],
                            clearable=False,
                        ),
                    ],
                    className="filter",
                ),
                className="filters",
            ),
            dcc.Loading(html.Div(body(projects[0]), id="transfer-body")),
        ]
    )


@callback(
    Output("transfer-body", "children"),
    Input("transfer-project", "value"),
    prevent_initial_call=True,
)
def _changed(project: str | None) -> list:
    return body(project)
