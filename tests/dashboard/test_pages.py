"""Each page's layout and callbacks called directly, on a demo-like store, inside the app's
context; and every page rendered through Dash's own request path. A bug in a page raises here:
callbacks catch only costlens's typed errors (shown as a notice with the library's message)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dashboard.fill import XSS_NAME
from tests.dashboard.test_forecast_view import data_url


def walk(node: Any) -> Iterator[Any]:
    """Every component and string of a layout tree."""
    if isinstance(node, (list, tuple)):
        for n in node:
            yield from walk(n)
        return
    yield node
    children = getattr(node, "children", None)
    if children is not None:
        yield from walk(children)


def text_of(node: Any) -> str:
    return " ".join(str(n) for n in walk(node) if isinstance(n, (str, int, float)))


def ids_of(node: Any) -> set[str]:
    return {n.id for n in walk(node) if isinstance(getattr(n, "id", None), str)}


def error_notices(node: Any) -> list[str]:
    return [text_of(n) for n in walk(node) if "notice-error" in str(getattr(n, "className", ""))]


@pytest.fixture
def app_ctx(filled, sqlite_url):
    """(ids, the page modules) with a request context of an app over the filled store."""
    import importlib

    from dashboard.app import create_app

    _, ids = filled
    app = create_app(sqlite_url)
    names = ("overview", "runs", "run", "transfer", "estimate", "forecast", "prices", "reconcile")
    pages = {n: importlib.import_module(f"dashboard.pages.{n}") for n in names}
    with app.server.test_request_context("/"):
        yield ids, pages


def test_overview_page_and_period_callback(app_ctx):
    _, pages = app_ctx
    body = pages["overview"].body("30 days")
    text = text_of(body)
    assert "Total spend" in text and "Costliest runs" in text and "$" in text
    assert {"spend-graph", "costliest-table"} <= ids_of(body)
    assert "vision-scratch" in text and error_notices(body) == []
    assert "Runs 7" in text


def test_overview_cards_of_a_cpu_only_period_are_host_facts(app_ctx):
    _, pages = app_ctx
    ov = {"runs": 2, "cost_usd": 0.01, "priced": True, "run_hours": 0.5,
          "process_cpu_hours": 0.27, "host_ram_peak_bytes": 2**30, "cpu_energy_kwh": 0.02,
          "cpu_energy_bases": ["estimate"]}  # fmt: skip
    cards = pages["overview"].cpu_cards(ov)
    assert [c.children[0].children for c in cards] == [
        "Runs", "Total spend", "Run-hours", "Process CPU-hours", "Peak process memory",
        "Host CPU energy",
    ]  # fmt: skip
    values = [c.children[1].children for c in cards]
    assert "n/a" not in values and values[4] == "1 GiB"
    assert cards[5].children[2].children == "estimated from CPU load and TDP"


def test_runs_page_filters_and_paging_callback(app_ctx):
    ids, pages = app_ctx
    layout = pages["runs"].layout()
    assert {"runs-table", "runs-count", "runs-filter-project"} <= ids_of(layout)
    rows, total, count = pages["runs"].page(("vision", None, "lora"), None, 0)
    assert count == "1 runs" and total == 1 and rows[0]["id"] == ids["lora"]
    rows, _, count = pages["runs"].page((None, None, None), [{"column_id": "cost_usd",
                                                              "direction": "desc"}], 0)  # fmt: skip
    assert count == "7 runs" and rows[0]["cost_usd"] == max(r["cost_usd"] or 0 for r in rows)
    # the grid's own request: its sort model and first row become the same page
    from dashboard.views.runs import grid_request

    sort_by, number = grid_request(
        {"startRow": 25, "endRow": 50, "sortModel": [{"colId": "cost_usd", "sort": "desc"}]}, 25
    )
    assert sort_by == [{"column_id": "cost_usd", "direction": "desc"}] and number == 1
    assert grid_request(None, 25) == ([], 0)


def test_run_page_facts_timelines_and_refresh(app_ctx):
    ids, pages = app_ctx
    layout = pages["run"].layout(ids["scratch"])
    assert {"run-facts", "run-cost", "run-timelines", "run-providers"} <= ids_of(layout)
    assert "price table as of" in text_of(layout)
    assert len(pages["run"].timelines(ids["cpu"])) == 2  # host CPU and RAM
    timelines, disabled, live = pages["run"]._refresh(1, ids["running"])
    assert len(timelines) == 3 and disabled is False and live.startswith("running")
    _, disabled, live = pages["run"]._refresh(1, ids["scratch"])
    assert disabled is True and live == "status: completed"
    xss = pages["run"].layout(ids["xss"])
    assert XSS_NAME in text_of(xss)
    missing = pages["run"].layout("nope")
    assert "no run with id" in text_of(missing).lower() and "run-error" in ids_of(missing)


def test_transfer_page_and_callbacks(app_ctx):
    _, pages = app_ctx
    layout = pages["transfer"].layout()
    assert {"transfer-claim", "transfer-project", "transfer-body"} <= ids_of(layout)
    body = pages["transfer"].body("vision")
    text = text_of(body)
    assert "whole runs (no quality target logged)" in text and "each run's bill" in text
    # no repeated cell in this store (fill_transfer's store has them: the browser test)
    assert {"transfer-summary", "transfer-frontier-graph", "transfer-savings-graph",
            "transfer-runs-link"} <= ids_of(body)  # fmt: skip
    assert "transfer-table" not in ids_of(body)  # per-run rows live in the runs table
    assert "Choose a project." in text_of(pages["transfer"].body(None))


def test_the_runs_page_takes_its_filters_from_the_link(app_ctx):
    _, pages = app_ctx
    layout = pages["runs"].layout(project="vision", strategy="nonsense")
    values = {c.id: c.value for c in walk(layout) if str(getattr(c, "id", "")).startswith(
        "runs-filter-")}  # fmt: skip
    assert values == {"runs-filter-project": "vision", "runs-filter-status": None,
                      "runs-filter-strategy": None}  # fmt: skip


def test_estimate_page_result_and_user_errors(app_ctx):
    _, pages = app_ctx
    from dashboard.views.estimate import ESTIMATE_DEFAULTS, ESTIMATE_FORM_IDS

    layout = pages["estimate"].layout()
    assert {f"est-{k}" for k in ESTIMATE_FORM_IDS} <= ids_of(layout)
    values = [ESTIMATE_DEFAULTS[k] for k in ESTIMATE_FORM_IDS]
    ok = pages["estimate"]._estimate(1, *values)
    assert error_notices(ok) == [] and {"estimate-table", "estimate-graph"} <= ids_of(ok)
    assert "against scratch: saves $" in text_of(ok)
    bad = dict(zip(ESTIMATE_FORM_IDS, values, strict=True))
    out = pages["estimate"].result({**bad, "gpus": "0"})
    assert "estimate-error" in ids_of(out) and "GPUs" in error_notices(out)[0]


def test_estimate_page_lets_a_bug_fail(app_ctx, monkeypatch):
    _, pages = app_ctx
    from dashboard.views import estimate

    def broken(*_a, **_k):
        raise KeyError("a bug")

    monkeypatch.setattr(estimate, "estimate", broken)
    with pytest.raises(KeyError):
        pages["estimate"].result(dict(estimate.ESTIMATE_DEFAULTS))


def test_forecast_page_result_upload_and_download(app_ctx):
    _, pages = app_ctx
    from dashboard.views.forecast import EXAMPLE_PLAN_LABEL

    assert "forecast-upload" in ids_of(pages["forecast"].layout())
    out = pages["forecast"].result(None, "20000", "month")
    assert error_notices(out) == [] and {"forecast-graph", "forecast-table"} <= ids_of(out)
    assert "planned jobs" in text_of(out)
    bad = pages["forecast"].result(None, "twenty", "month")
    assert "budget" in error_notices(bad)[0]
    assert EXAMPLE_PLAN_LABEL in text_of(pages["forecast"].layout())


def test_reconcile_page_layout_result_and_bad_bill(app_ctx):
    from tests.price.test_reconcile import BILL

    _, pages = app_ctx
    page = pages["reconcile"]
    assert {"reconcile-upload", "reconcile-hint"} <= ids_of(page.layout())
    out = page.result({"name": "bill.csv", "contents": data_url(BILL.read_text())})
    assert error_notices(out) == []
    assert {"reconcile-instances", "reconcile-projects", "reconcile-out-of-scope"} <= ids_of(out)
    assert "Explained by runs" in text_of(out) and "Tax charges" in text_of(out)
    bad = page.result({"name": "b.csv", "contents": data_url("BilledCost\n1\n")})
    assert error_notices(bad)[0].startswith("b.csv:1 column 'BillingCurrency'")


def test_prices_page(app_ctx):
    _, pages = app_ctx
    layout = pages["prices"].layout()
    assert {"prices-graph", "prices-table", "price-tables"} <= ids_of(layout)
    assert "H100-SXM" in text_of(layout) and "CPU (per instance-hour)" in text_of(layout)


# ---------------------------------------------------------------------------- Dash request path


def _render(client, path: str) -> dict:
    body = {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"},
                    {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                   {"id": "_pages_location", "property": "search", "value": ""}],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }  # fmt: skip
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.data[:500]  # a page bug is a 500 here
    return resp.get_json()


PAGES = {
    "/": "Costliest runs",
    "/runs": "runs-table",
    "/transfer": "transfer-savings-graph",
    "/estimate": "est-go",
    "/prices": "prices-table",
    "/forecast": "forecast-upload",
    "/reconcile": "reconcile-upload",
}


def test_every_page_renders_through_dash(filled, sqlite_url):
    from dashboard.app import create_app

    _, ids = filled
    client = create_app(sqlite_url).server.test_client()
    assert client.get("/").status_code == 200
    for path, marker in PAGES.items():
        text = json.dumps(_render(client, path))
        assert marker in text and "notice-error" not in text, path
    assert "Host CPU" in json.dumps(_render(client, f"/runs/{ids['cpu']}"))
    run_page = json.dumps(_render(client, f"/runs/{ids['xss']}"))
    assert json.dumps(XSS_NAME)[1:-1] in run_page  # the name travels as a plain string
    assert "dangerouslySetInnerHTML" not in run_page
    assert "no run with id" in json.dumps(_render(client, "/runs/nope")).lower()


def _callback(client, outputs, inputs, state=()) -> dict:
    """One callback through Dash's request path: outputs and inputs as (id, property)."""
    out = [{"id": i, "property": p} for i, p in outputs]
    names = "...".join(f"{i}.{p}" for i, p in outputs)
    body = {
        "output": f"..{names}.." if len(out) > 1 else names,
        "outputs": out if len(out) > 1 else out[0],
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
    }
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.data[:500]
    return resp.get_json()["response"]


def test_forecast_callbacks_through_dash(filled, sqlite_url):
    from dashboard.app import create_app
    from dashboard.views.forecast import example_plan_path

    client = create_app(sqlite_url).server.test_client()
    plan = data_url(example_plan_path().read_text())
    outputs = [("forecast-plan", "data"), ("forecast-source", "children")]
    inputs = [("forecast-upload", "contents", plan), ("forecast-example", "n_clicks", 0)]
    chosen = _callback(client, outputs, inputs, [("forecast-upload", "filename", "mine.csv")])
    assert chosen["forecast-source"]["children"] == "uploaded plan: mine.csv"
    refused = _callback(client, outputs, inputs, [("forecast-upload", "filename", "x.exe")])
    assert refused["forecast-source"]["children"].startswith("upload refused: x.exe")
    result = _callback(
        client, [("forecast-result", "children")],
        [("forecast-plan", "data", chosen["forecast-plan"]["data"]),
         ("forecast-budget", "value", "5k"), ("forecast-period", "value", "month")],
    )  # fmt: skip
    text = json.dumps(result)
    assert "forecast-graph" in text and "notice-error" not in text


def test_empty_store_pages_show_how_to_record_a_first_run(store, sqlite_url):
    from dashboard.app import create_app

    client = create_app(sqlite_url).server.test_client()
    for path in ("/", "/runs", "/transfer"):
        text = json.dumps(_render(client, path))
        assert "No runs recorded yet" in text
        assert "costlens run -- python train.py" in text and "@costlens.profile" in text
        assert "with costlens.profile" in text


def test_reconcile_callbacks_through_dash(filled, sqlite_url):
    from dashboard.app import create_app
    from tests.price.test_reconcile import BILL

    client = create_app(sqlite_url).server.test_client()
    outputs = [("reconcile-bill", "data"), ("reconcile-source", "children")]
    inputs = [("reconcile-upload", "contents", data_url(BILL.read_text()))]
    chosen = _callback(client, outputs, inputs, [("reconcile-upload", "filename", "jan.csv")])
    assert chosen["reconcile-source"]["children"] == "bill: jan.csv"
    refused = _callback(client, outputs, inputs, [("reconcile-upload", "filename", "x.exe")])
    assert refused["reconcile-source"]["children"].startswith("upload refused: x.exe")
    result = _callback(
        client,
        [("reconcile-result", "children")],
        [("reconcile-bill", "data", chosen["reconcile-bill"]["data"])],
    )
    text = json.dumps(result)
    assert "reconcile-instances" in text and "notice-error" not in text
