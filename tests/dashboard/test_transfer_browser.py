"""The transfer-vs-scratch page in real Chromium over a demo-like store: each comparison
labelled as text, intervals and verdicts, the unmeasured budget said in a sentence, only
result metrics in the chooser, the claim on a readable axis."""

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


def test_the_transfer_page_labels_every_comparison_with_its_verdict(served_transfer, page):  # noqa: F811
    page.set_default_timeout(60_000)  # the first render of a page on a busy 2-core machine
    page.goto(served_transfer + "/transfer")
    page.wait_for_selector("#transfer-savings-graph .main-svg")
    page.wait_for_load_state("networkidle")
    # the savings chart names each comparison on its axis, as text (no "hover a bar")
    ticks = page.locator("#transfer-savings-graph .ytick text").all_text_contents()
    assert "w2 × 50 labels × full-finetune" in ticks and len(ticks) == 4
    legend = page.locator("#transfer-savings-graph .legendtext").all_text_contents()
    assert sorted(legend) == ["costs more", "saves", "within noise"]  # no empty entry
    svg = page.text_content("#transfer-savings-graph")
    assert "commonly claimed: 80%" in svg and "100%" in svg and "1500" not in svg
    cells = page.locator("#transfer-cells tbody tr").all_text_contents()
    ft = next(r for r in cells if "w2 × 50 labels × full-finetune" in r)
    assert "saves" in ft and "[" in ft and "training-thread CPU time" in ft
    assert "Energy is not shown" in page.inner_text("#transfer-unmeasured")
    panels = page.locator("#transfer-runs-graph .annotation-text").all_text_contents()
    assert "Energy (kWh)" not in panels and "Cost (US$)" in panels
    page.click("#transfer-metric")
    options = page.get_by_role("option").all_text_contents()
    page.keyboard.press("Escape")
    assert options == ["accuracy"]  # not width, epochs, target_accuracy, repeat, train_cpu_s
    assert PROJECT in page.inner_text("#transfer-project")
    assert page.problems == []
