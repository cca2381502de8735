"""Every dashboard page in real Chromium (Playwright, sync API) against the app served on
127.0.0.1: no console errors, filters, the estimate form, a forecast download, names as text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dashboard.screenshots import CHROMIUM_ARGS
from tests.dashboard.fill import XSS_NAME, fill_store

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """The dashboard over a store with a few runs, served in a background thread."""
    from costlens.store import open_store
    from dashboard.app import create_app, serving

    url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'runs.db'}"
    with open_store(url) as store:
        ids = fill_store(store)
    with serving(create_app(url)) as base:
        yield base, ids


@pytest.fixture(scope="module")
def browser(chromium_path: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh page that records console errors, uncaught exceptions and dialogs."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.problems = []  # type: ignore[attr-defined]
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.on("console", lambda m: pg.problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(f"uncaught: {e}"))

    def on_dialog(d):
        pg.dialogs.append(d.message)
        d.dismiss()

    pg.on("dialog", on_dialog)
    yield pg
    context.close()


def _pick(page, dropdown_id: str, option: str) -> None:
    """Choose an option of a Dash 4 dcc.Dropdown."""
    page.click(f"#{dropdown_id}")
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def test_every_page_loads_without_console_errors(served, page):
    base, ids = served
    checks = {
        "/": "#spend-graph .main-svg",
        "/runs": "#runs-table .ag-cell[col-id=name]",
        f"/runs/{ids['scratch']}": "#run-timelines .main-svg",
        f"/runs/{ids['cpu']}": "#run-timelines .main-svg",
        "/transfer": "#transfer-savings-graph .main-svg",
        "/estimate": "#estimate-table",
        "/prices": "#prices-graph .main-svg",
        "/forecast": "#forecast-graph .main-svg",
    }
    for path, selector in checks.items():
        page.goto(base + path)
        page.wait_for_selector(selector)
        page.wait_for_load_state("networkidle")
        assert not page.locator(".notice-error").count(), path
        assert page.problems == [], f"{path}: {page.problems}"
    # the live run refreshes itself; a finished one does not
    page.goto(f"{base}/runs/{ids['running']}")
    page.wait_for_selector("#run-timelines .main-svg")
    assert "refreshes" in page.inner_text("#run-live")
    assert page.problems == []


def test_a_filter_changes_the_runs_table(served, page):
    base, _ = served
    page.goto(base + "/runs")
    page.wait_for_selector("#runs-table .ag-cell[col-id=name]")
    assert page.inner_text("#runs-count") == "7 runs"
    _pick(page, "runs-filter-project", "vision")
    page.wait_for_function("document.querySelector('#runs-count').innerText === '3 runs'")
    page.wait_for_function(  # the new grid has asked for its first page and shows it
        "(() => { const c = [...document.querySelectorAll('#runs-table .ag-cell[col-id=project]')];"
        " return c.length === 3 && c.every(e => e.innerText === 'vision'); })()"
    )
    _pick(page, "runs-filter-strategy", "lora")
    page.wait_for_function("document.querySelector('#runs-count').innerText === '1 runs'")
    assert page.problems == []


def _usd(text: str) -> float:
    """US$ text from core/fmt (``$1,234``, ``$0.00012``, ``$1.2M``) as a number."""
    text = text.strip().replace(",", "").replace("$", "")
    scale = {"M": 1e6, "B": 1e9, "T": 1e12}.get(text[-1:], 1.0)
    return float(text.rstrip("MBT")) * scale


def test_the_runs_grid_sorts_on_the_server_and_links_to_a_run(served, page):
    base, _ = served
    page.goto(base + "/runs")
    page.wait_for_selector("#runs-table .ag-cell[col-id=name]")
    page.click("#runs-table .ag-header-cell[col-id=cost_usd] .ag-header-cell-label")  # ascending
    page.click("#runs-table .ag-header-cell[col-id=cost_usd] .ag-header-cell-label")  # descending
    page.wait_for_function(
        "(() => { const c = [...document.querySelectorAll("
        "'#runs-table .ag-row[row-index=\"0\"] .ag-cell[col-id=cost_usd]')];"
        " return c.length === 1 && c[0].innerText.trim() !== ''; })()"
    )
    first = page.locator('#runs-table .ag-row[row-index="0"] .ag-cell[col-id=cost_usd]')
    costs = page.locator("#runs-table .ag-cell[col-id=cost_usd]").all_inner_texts()
    values = [_usd(c) for c in costs if c.strip() not in ("", "n/a")]
    assert _usd(first.inner_text()) == max(values)
    link = page.locator('#runs-table .ag-row[row-index="0"] .ag-cell[col-id=run] a')
    link.click()
    page.wait_for_selector("#run-facts")
    assert "/runs/" in page.url
    assert page.problems == []


def test_run_names_render_as_text(served, page):
    base, ids = served
    page.goto(f"{base}/runs/{ids['xss']}")
    page.wait_for_selector("#run-facts")
    assert page.inner_text("#run-name") == XSS_NAME
    assert page.locator("#run-name img, #run-facts img, #run-facts b").count() == 0
    page.goto(base + "/runs")
    page.wait_for_selector("#runs-table .ag-cell[col-id=name]")
    names = page.locator("#runs-table .ag-cell[col-id=name]").all_inner_texts()
    assert XSS_NAME in names
    assert page.locator("#runs-table img").count() == 0
    page.wait_for_timeout(300)
    assert page.dialogs == [] and page.problems == []


def test_the_estimate_form_returns_a_result(served, page):
    base, _ = served
    page.goto(base + "/estimate")
    page.wait_for_selector("#estimate-table")
    page.fill("#est-tokens", "2B")
    page.fill("#est-gpus", "0")
    page.click("#est-go")
    page.wait_for_selector("#estimate-error")
    assert "GPUs" in page.inner_text("#estimate-error")
    page.fill("#est-gpus", "1")
    page.click("#est-go")
    page.wait_for_selector("#estimate-table")
    rows = page.locator("#estimate-table tbody tr").all_inner_texts()
    assert [r.split("\t")[0] for r in rows] == [
        "scratch", "full-finetune", "lora", "frozen-features"
    ]  # fmt: skip
    assert "$" in rows[0]
    assert page.locator("#estimate-graph g.errorbar").count() > 0
    assert page.locator(".notice-error").count() == 0  # valid input: no error notice
    assert page.problems == []


def test_a_forecast_download_arrives(served, page):
    base, _ = served
    page.goto(base + "/forecast")
    page.wait_for_selector("#forecast-graph .main-svg")
    page.fill("#forecast-budget", "20k")
    page.keyboard.press("Enter")
    page.wait_for_selector("#forecast-notes >> text=budget of $20,000")
    assert page.locator(".notice-error").count() == 0
    with page.expect_download() as info:
        page.click("#forecast-csv")
    download = info.value
    assert download.suggested_filename == "costlens_forecast.csv"
    with open(download.path(), encoding="utf-8") as fh:
        text = fh.read()
    assert "cost_usd" in text and "2027-01" in text
    with page.expect_download() as info:
        page.click("#forecast-xlsx")
    with open(info.value.path(), "rb") as fh:
        assert fh.read(2) == b"PK"
    assert page.problems == []
