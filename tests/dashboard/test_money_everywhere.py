"""Every CLI command's table and JSON, and the dashboard's pages, on a store of CPU and GPU runs
(one CPU run a few seconds long, so its dollars are tiny): no dollar figure in scientific
notation (issue 20: ``cost $ 1.5e-05`` in `runs`, ``778 (469-1.67e+03)`` in `estimate
--compare`, ``8.6e-05`` beside ``$0.0025`` on the overview). JSON keeps raw numbers."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import REPO

# a number written in scientific notation, standing alone (not part of an id or a word)
SCIENTIFIC = re.compile(r"(?<![\w.#])[-+$]?\d+(?:\.\d+)?[eE][-+]\d+(?![\w.])")  # e+ or e-
EXAMPLE = str(REPO / "data" / "example_plan.csv")


@pytest.fixture
def runs(filled):
    """The dashboard's filled store (GPU runs, a CPU run, ...) plus a 3-second CPU run."""
    from costlens.store import insert_run
    from costlens.store.queries import utcnow

    store, ids = filled
    now = utcnow()
    insert_run(store, {"id": "tinycpu0000000000000000", "project": "tabular", "name": "tiny",
                       "status": "completed", "strategy": "scratch", "device_count": 0,
                       "started_at": now - timedelta(seconds=3), "ended_at": now,
                       "host_cpu_count": 2, "steps": 3, "flops": 1e9,
                       "params_total": 1000, "samples": 30})  # fmt: skip
    return store, {**ids, "tiny": "tinycpu0000000000000000"}


def _scientific(text: str) -> list[str]:
    return SCIENTIFIC.findall(text)


def _json_money_is_raw(value: Any, key: str = "") -> None:
    """Every ``*usd*`` value is a raw number or null; no string holds a dollar in e-notation."""
    if isinstance(value, dict):
        for k, v in value.items():
            _json_money_is_raw(v, str(k))
    elif isinstance(value, list):
        for v in value:
            _json_money_is_raw(v, key)
    elif "usd" in key.split("_") and not key.endswith(("_source", "_basis", "_note")):
        assert value is None or isinstance(value, (int, float)), (key, value)
    elif isinstance(value, str) and "$" in value:
        assert not _scientific(value), (key, value)


def test_every_cli_table_and_json_writes_dollars_without_e_notation(cli, runs, sqlite_url):
    _, ids = runs
    db = ("--db", sqlite_url)
    commands = [
        ("runs", *db),
        ("show", ids["scratch"], *db),
        ("show", ids["tiny"], *db),
        ("cost", ids["scratch"], *db),
        ("cost", ids["cpu"], *db),
        ("cost", ids["tiny"], *db),
        ("prices",),
        ("prices", "--spot"),
        ("gpus",),
        ("estimate", "--params", "1e9", "--tokens", "1e10", "--gpu", "H100"),
        ("estimate", "--params", "1e9", "--tokens", "1e10", "--gpu", "H100", "--strategy",
         "lora", "--compare", "--scratch-tokens", "1e12"),
        ("estimate", "--params", "1e3", "--tokens", "1e4", "--gpu", "T4", "--compare"),
        ("estimate", "--from-run", ids["tiny"], "--compare", *db),
        ("forecast", EXAMPLE, "--sims", "500"),
    ]  # fmt: skip
    for args in commands:
        table = cli(*args, env={"COLUMNS": "200"})
        assert table.code == 0, (args, table.err)
        assert not _scientific(table.out), (args, table.out)
        assert not _scientific(table.err), (args, table.err)
        if args[0] == "forecast":
            continue  # its JSON is the file contract (tests/budget/files); raw numbers
        as_json = cli(*args, "--format", "json")
        assert as_json.code == 0, (args, as_json.err)
        _json_money_is_raw(json.loads(as_json.out))


def _strings(node: Any) -> list[str]:
    """Every string in a Dash layout tree: children, table rows, figure texts and ticks."""
    if hasattr(node, "to_plotly_json"):
        node = node.to_plotly_json()
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, (list, tuple)):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def test_every_dashboard_page_writes_dollars_without_e_notation(runs, sqlite_url):
    import importlib

    from dashboard.app import create_app
    from dashboard.views.estimate import ESTIMATE_DEFAULTS, ESTIMATE_FORM_IDS

    _, ids = runs
    app = create_app(sqlite_url)
    names = ("overview", "runs", "run", "estimate", "forecast", "prices")
    pages = {n: importlib.import_module(f"dashboard.pages.{n}") for n in names}
    with app.server.test_request_context("/"):
        rendered = {
            "overview": pages["overview"].body("All time"),
            "runs": pages["runs"].page((None, None, None), None, 0)[0],
            "runs by cost": pages["runs"].page(
                (None, None, None), [{"column_id": "cost_usd", "direction": "asc"}], 0
            )[0],
            "estimate": pages["estimate"]._estimate(
                1, *[ESTIMATE_DEFAULTS[k] for k in ESTIMATE_FORM_IDS]
            ),
            "forecast": pages["forecast"].result(None, "20000", "month"),
            "prices": pages["prices"].layout(),
            **{f"run {k}": pages["run"].layout(rid) for k, rid in ids.items()},
        }
    for name, layout in rendered.items():
        strings = _strings(layout)
        assert strings, name
        bad = [s for s in strings if _scientific(s)]
        assert not bad, (name, bad[:5])
    costs = [r["cost_usd"] for r in rendered["runs by cost"]]
    assert costs[0].startswith("$0.0000"), costs  # the 3-second CPU run: tiny, not 0, not e-
