"""Small layout pieces shared by the pages. Store text (names, tags) always goes in as a string
child, which Dash renders as text: no Markdown, no raw HTML."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import dash_ag_grid as dag
from dash import dcc, html

from costlens.core.fmt import MISSING, money, number, percent  # noqa: F401  (pages use them)
from dashboard.fmt import run_link
from dashboard.views.runs import RUN_TABLE_COLUMNS

# How a first run gets recorded (shown by an empty store instead of an error).
FIRST_RUN_WAYS: tuple[tuple[str, str], ...] = (
    (
        "Decorator",
        'import costlens\n\n@costlens.profile(project="my-project")\ndef train():\n    ...\n\n'
        "train()",
    ),
    (
        "Context manager",
        'import costlens\n\nwith costlens.profile(project="my-project") as run:\n'
        "    for batch in loader:\n        ...\n        run.step(samples=len(batch))",
    ),
    ("Command line", "costlens run -- python train.py"),
)


def navbar(pages: Iterable[dict[str, Any]]) -> html.Nav:
    """Links to every page that has a fixed path (not the per-run page, not the 404 page)."""
    links = [
        dcc.Link(page["name"], href=page["relative_path"], className="nav-link")
        for page in pages
        if not page.get("path_template") and page["module"].split(".")[-1] != "not_found_404"
    ]
    return html.Nav([html.Span("costlens", className="brand"), *links], className="navbar")


def kpi(label: str, value: str, note: str | None = None, *, id: str | None = None) -> html.Div:
    """One headline figure."""
    kids: list[Any] = [
        html.Div(label, className="kpi-label"),
        html.Div(value, className="kpi-value"),
    ]
    if note:
        kids.append(html.Div(note, className="kpi-note"))
    return html.Div(kids, className="kpi", **({"id": id} if id else {}))


def kpi_row(cards: Sequence[html.Div]) -> html.Div:
    return html.Div(list(cards), className="kpi-row")


def first_run_help() -> html.Div:
    """What an empty store shows: the three ways to record a first run."""
    ways = [
        html.Div([html.H4(title), html.Pre(html.Code(code))], className="way")
        for title, code in FIRST_RUN_WAYS
    ]
    return html.Div(
        [
            html.H2("No runs recorded yet"),
            html.P(
                "costlens records a run while your training runs: GPU and host telemetry, "
                "FLOPs, time and energy. Record a first run in one of three ways:"
            ),
            html.Div(ways, className="ways"),
            html.P(
                [
                    "Or run ",
                    html.Code("costlens demo"),
                    " to record a few small example runs. This page updates when runs arrive "
                    "(reload it).",
                ]
            ),
        ],
        className="empty-state",
        id="empty-state",
    )


def notice(message: str, *, kind: str = "info", id: str | None = None) -> html.Div:
    """A boxed message: kind is info, warning or error."""
    return html.Div(message, className=f"notice notice-{kind}", **({"id": id} if id else {}))


def graph(figure: Any, *, id: str | None = None) -> dcc.Graph:
    """A Plotly figure without the mode bar's logo."""
    kw = {"id": id} if id else {}
    return dcc.Graph(figure=figure, config={"displaylogo": False, "responsive": True}, **kw)


def key_values(items: Iterable[tuple[str, Any]], *, id: str | None = None) -> html.Table:
    """A two-column table of labels and values, every value rendered as text."""
    rows = [html.Tr([html.Th(str(k)), html.Td(MISSING if v is None else str(v))]) for k, v in items]
    return html.Table(html.Tbody(rows), className="kv", **({"id": id} if id else {}))


def simple_table(
    columns: Sequence[tuple[str, str]],
    rows: Iterable[dict[str, Any]],
    *,
    link_column: str | None = None,
    id: str | None = None,
) -> html.Table:
    """A plain table: ``columns`` are (key, heading); the ``link_column`` cell links to the run
    page of the row's ``id``. Every cell is text."""
    head = html.Thead(html.Tr([html.Th(h) for _, h in columns]))
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            text = MISSING if value is None else str(value)
            if key == link_column and row.get("id"):
                cells.append(html.Td(dcc.Link(text, href=run_link(str(row["id"])))))
            else:
                cells.append(html.Td(text))
        body.append(html.Tr(cells))
    return html.Table([head, html.Tbody(body)], className="grid", **({"id": id} if id else {}))


FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif'
STATUS_COLOURS = {"running": "#1d4ed8", "failed": "#b91c1c", "lost": "#b45309"}
RUN_TABLE_HEADINGS = {
    "run": "run",
    "name": "name",
    "project": "project",
    "status": "status",
    "strategy": "strategy",
    "started": "started (UTC)",
    "duration": "duration",
    "device": "hardware",
    "device_hours": "hours",
    "cost_usd": "US$",
}


# Widths of the runs grid: name and start time whole, numbers narrow (pixels).
RUN_COLUMN_SIZES: dict[str, dict[str, Any]] = {
    "name": {"flex": 2, "minWidth": 180},
    "started": {"minWidth": 150},
    "status": {"maxWidth": 120},
}


def runs_table(*, id: str, page_size: int = 25, hide: Sequence[str] = ()) -> Any:
    """The runs table (Dash AG Grid), sorted and paged on the server: the grid asks for each page
    (``getRowsRequest``) and a callback answers from the store (see
    dashboard.views.runs.runs_page). Only the ``run`` column is Markdown (a link built from the
    escaped id; the renderer never renders HTML); names and every other cell are plain text.
    ``hide``: columns with nothing to tell (dashboard.views.runs.hidden_columns)."""
    columns = []
    for key in RUN_TABLE_COLUMNS:
        if key in hide:
            continue
        col: dict[str, Any] = {"field": key, "headerName": RUN_TABLE_HEADINGS[key]}
        col.update(RUN_COLUMN_SIZES.get(key, {}))
        if key == "run":
            col.update(cellRenderer="markdown", sortable=False, minWidth=130)
        elif key == "device_hours":  # "0.00094 inst-h": the unit must not be cut
            col.update(type="rightAligned", minWidth=130, maxWidth=150)
        elif key in ("duration", "cost_usd"):
            col.update(type="rightAligned", maxWidth=120)
        elif key == "status":
            col["cellStyle"] = {"styleConditions": [
                {"condition": f"params.value === '{status}'", "style": {"color": colour}}
                for status, colour in STATUS_COLOURS.items()
            ]}  # fmt: skip
        columns.append(col)
    return dag.AgGrid(
        id=id,
        columnDefs=columns,
        defaultColDef={"sortable": True, "resizable": True, "minWidth": 80, "flex": 1},
        rowModelType="infinite",
        dashGridOptions={
            "pagination": True,
            "paginationPageSize": page_size,
            "paginationPageSizeSelector": False,
            "cacheBlockSize": page_size,
            "maxBlocksInCache": 4,
            "rowBuffer": 0,
            "multiSortKey": "ctrl",
            "domLayout": "autoHeight",
        },
        style={"width": "100%"},
    )
