"""The dashboard's plan upload has a time budget (issue 24): read and forecast on one worker
thread, waited for at most UPLOAD_BUDGET_S; over it, or while another upload holds the worker,
a clear error at once."""

from __future__ import annotations

import threading
import time

import pytest

from costlens.core.errors import UsageError
from dashboard.views import forecast as view
from tests.dashboard.test_forecast_view import data_url


def _largest_upload() -> dict[str, str]:
    """A plan of UPLOAD_MAX_JOBS jobs (the largest accepted), from the example plan's rows."""
    header, *rows = view.example_plan_path().read_text().strip().splitlines()
    first = header.split(",").index("name")
    out = [header]
    for i in range(view.UPLOAD_MAX_JOBS):
        cells = rows[i % len(rows)].split(",")
        cells[first] = f"job-{i}"
        out.append(",".join(cells))
    return {"contents": data_url("\n".join(out) + "\n"), "name": "big.csv"}


def _wait_idle() -> None:
    assert view._UPLOAD_SLOT.acquire(timeout=120)
    view._UPLOAD_SLOT.release()


def test_the_largest_upload_answers_within_the_budget(model, prices):
    start = time.monotonic()
    fc, _ = view.forecast_with_budget(_largest_upload(), "", "month", model=model, prices=prices)
    elapsed = time.monotonic() - start
    assert len(fc.months) >= 1 and elapsed < view.UPLOAD_BUDGET_S
    print(f"2,000-job upload forecast in {elapsed:.2f} s (budget {view.UPLOAD_BUDGET_S:g} s)")


def test_an_upload_over_the_budget_is_answered_at_the_deadline(model, prices, monkeypatch):
    monkeypatch.setattr(view, "UPLOAD_BUDGET_S", 0.05)
    start = time.monotonic()
    with pytest.raises(UsageError, match=r"big.csv: the forecast .* more than 0.05 s"):
        view.forecast_with_budget(_largest_upload(), "", "month", model=model, prices=prices)
    assert time.monotonic() - start < 0.05 + 1.0  # the request is answered at the deadline
    # the worker is still busy with it: another upload is refused at once, never queued
    if not view._UPLOAD_SLOT.acquire(blocking=False):
        with pytest.raises(UsageError, match="another uploaded plan is still being forecast"):
            view.within_upload_budget(lambda: None, "second.csv")
    else:
        view._UPLOAD_SLOT.release()
    _wait_idle()


def test_the_budget_mechanism_with_a_hung_forecast():
    release = threading.Event()
    start = time.monotonic()
    with pytest.raises(UsageError, match=r"took more than 0\.2 s"):
        view.within_upload_budget(release.wait, "slow.yaml", budget_s=0.2)
    assert 0.2 <= time.monotonic() - start < 1.2
    with pytest.raises(UsageError, match="another uploaded plan"):
        view.within_upload_budget(lambda: 1, "next.csv", budget_s=5)
    release.set()
    _wait_idle()
    assert view.within_upload_budget(lambda: 42, "next.csv", budget_s=5) == 42
    with pytest.raises(ValueError, match="bug"):  # errors of the work reach the caller as they are
        view.within_upload_budget(lambda: (_ for _ in ()).throw(ValueError("bug")), "x.csv")
