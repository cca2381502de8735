"""The transfer-vs-scratch page in real Chromium over a demo-like store: the answer at equal
quality in at most 1,800 px at 1400 px wide, a cell short of the target never said to save, the
frontier with its target line, the per-run rows one link away in the filtered runs table."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dashboard.fill_transfer import PROJECT, fill_transfer
from tests.dashboard.test_browser import browser, page  # noqa: F401  (shared fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def served_transfer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from costlens.store import open_store
    from dashboard.app import create_app, serving

    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'transfer.db'}"
    with open_store(url) as store:
        fill_transfer(store)
    with serving(create_app(url)) as base:
        yield base


def test_the_transfer_page_answers_at_equal_quality_in_two_screens(served_transfer, page):  # noqa: F811
    page.set_default_timeout(60_000)  # the first render of a page on a busy 2-core machine
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(served_transfer + "/transfer")
    page.wait_for_selector("#transfer-frontier-graph .main-svg")
    page.wait_for_selector("#transfer-savings-graph .main-svg")
    page.wait_for_load_state("networkidle")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= 1800, height  # the claim, the verdicts, the frontier, the payback
    summary = page.inner_text("#transfer-summary")
    assert "full-finetune reaches 95% for 75% less at w2 × 50 labels" in summary
    cells = page.locator("#transfer-cells tbody tr").all_text_contents()
    ff = next(r for r in cells if "w2 × 50 labels × frozen-features" in r)
    assert "does not reach target" in ff and "0/3" in ff and "not reached" in ff
    assert "saves" not in ff
    ft = next(r for r in cells if "w2 × 50 labels × full-finetune" in r)
    assert "saves" in ft and "[" in ft and "3/3" in ft
    # the savings chart names each compared cell on its axis, as text; never one short of target
    ticks = page.locator("#transfer-savings-graph .ytick text").all_text_contents()
    assert "w2 × 50 labels × full-finetune" in ticks and len(ticks) == 3
    assert "commonly claimed: 80%" in page.text_content("#transfer-savings-graph")
    legend = page.locator("#transfer-frontier-graph .legendtext").all_text_contents()
    assert sorted(legend) == ["frozen-features", "full-finetune", "scratch"]
    assert "target accuracy 0.95" in page.text_content("#transfer-frontier-graph")
    assert page.locator("#transfer-table").count() == 0  # per-run rows: in the runs table
    page.click("#transfer-runs-link")
    page.wait_for_selector("#runs-table .ag-row")
    assert PROJECT in page.inner_text("#runs-filter-project")
    assert "18 runs" in page.inner_text("#runs-count")
    assert page.problems == []
