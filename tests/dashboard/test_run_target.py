"""The run page's line for the project's quality target (COSTLENS_TARGET)."""

from __future__ import annotations

from costlens.price.tables import PriceTable
from costlens.store import open_store
from dashboard.views import run as view
from tests.price.test_target import _priced_run


def test_the_run_page_gives_the_cost_to_the_projects_target(sqlite_url, monkeypatch):
    _priced_run(sqlite_url)
    with open_store(sqlite_url) as store:
        record = view.run(store, PriceTable.load(), "run1")
        assert view.target_items(store, record) == []  # no target set: no line
        monkeypatch.setenv("COSTLENS_TARGET", "accuracy>=0.99")
        assert view.target_items(store, record) == [
            ("cost to accuracy>=0.99", "not reached (best 0.97)")
        ]
        monkeypatch.setenv("COSTLENS_TARGET", "accuracy>=0.95")
        ((_label, text),) = view.target_items(store, record)
        assert text.startswith("$") and "step 300" in text
