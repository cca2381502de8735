"""PNG screenshots of every dashboard page, from any store, in headless Chromium.

    python -m dashboard.screenshots --db URL --out docs/screenshots [--run RUN_ID]

The app is served on 127.0.0.1 (a free port) in a background thread for the duration.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# file name -> (path, selector that shows the page is drawn)
PAGES = {
    "overview": ("/", "#spend-graph .main-svg, #empty-state"),
    "runs": ("/runs", "#runs-table .ag-cell, #empty-state"),
    "transfer": ("/transfer", "#transfer-frontier-graph .main-svg, #transfer-none, #empty-state"),
    "estimate": ("/estimate", "#estimate-graph .main-svg"),
    "prices": ("/prices", "#prices-graph .main-svg"),
    "forecast": ("/forecast", "#forecast-graph .main-svg"),
}


def pick_run(db_url: str) -> str | None:
    """The costliest recorded run with GPU telemetry, else the newest run (None: no run)."""
    from costlens.price.tables import PriceTable
    from costlens.store import OpenMode, open_store
    from dashboard.views.runs import runs_frame

    with open_store(db_url, OpenMode.WRITE) as store:
        df = runs_frame(store, PriceTable.load())
    if df.empty:
        return None
    gpu = df[df["device_count"] > 0].dropna(subset=["cost_usd"])
    best = gpu.nlargest(1, "cost_usd") if len(gpu) else df.head(1)
    return str(best.iloc[0]["id"])


def take(
    db_url: str,
    out: Path,
    *,
    run_id: str | None = None,
    chromium: str = CHROMIUM,
    width: int = 1400,
    budget_usd: float | None = None,
) -> list[Path]:
    """Screenshot every page of the dashboard over ``db_url`` into ``out``; returns the files.

    ``budget_usd`` (optional) is typed into the forecast page's budget field first.
    """
    from playwright.sync_api import sync_playwright

    from dashboard.app import create_app, serving

    out.mkdir(parents=True, exist_ok=True)
    pages = dict(PAGES)
    run_id = run_id or pick_run(db_url)
    if run_id:
        pages["run"] = (f"/runs/{run_id}", "#run-timelines .main-svg, #run-error")
    app = create_app(db_url)
    written = []
    with serving(app) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.set_default_timeout(30_000)
        for name, (path, selector) in pages.items():
            page.goto(base + path)
            page.wait_for_selector(selector)
            if name == "forecast" and budget_usd and page.locator("#forecast-budget").count():
                page.fill("#forecast-budget", str(budget_usd))
                page.press("#forecast-budget", "Enter")
                page.wait_for_selector("#forecast-graph .main-svg")
                page.wait_for_timeout(1500)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(400)  # let Plotly finish its transitions
            target = out / f"{name}.png"
            tmp = target.with_suffix(".png.partial")
            page.screenshot(path=str(tmp), full_page=True, type="png")
            tmp.replace(target)
            written.append(target)
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Screenshot every costlens dashboard page.")
    ap.add_argument("--db", required=True, help="store URL (sqlite:///PATH or postgresql://...)")
    ap.add_argument("--out", default="docs/screenshots", help="folder for the PNG files")
    ap.add_argument("--run", default=None, help="run id for the run page (default: costliest)")
    ap.add_argument("--chromium", default=CHROMIUM, help="Chromium executable")
    ap.add_argument("--budget", type=float, default=None, help="monthly budget (US$) to show")
    args = ap.parse_args(argv)
    for path in take(
        args.db, Path(args.out), run_id=args.run, chromium=args.chromium, budget_usd=args.budget
    ):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
