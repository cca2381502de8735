"""The forecast page's view: example and uploaded plans, budget text, downloads."""

from __future__ import annotations

import base64

import pytest

from costlens.core.errors import PlanError, UsageError
from costlens.core.numbers import NumberError
from dashboard.views import forecast as view


def data_url(text: str, mime: str = "text/csv") -> str:
    return f"data:{mime};base64," + base64.b64encode(text.encode()).decode()


def test_forecast_example_plan_and_downloads(model, prices):
    fc, budget = view.forecast_with_budget(None, "1k", "month", model=model, prices=prices)
    assert budget == 1000.0 and len(fc.months) >= 1
    assert (fc.months["cost_usd_low"] <= fc.months["cost_usd_high"]).all()
    assert any("budget" in n for n in view.forecast_notes(fc))
    assert view.forecast_rows(fc)[0]["over"].endswith("over budget")
    xlsx, name = view.forecast_file(fc, "xlsx")
    assert xlsx[:2] == b"PK" and name.endswith(".xlsx")
    csv_bytes, _ = view.forecast_file(fc, "csv")
    assert b"cost_usd" in csv_bytes
    with pytest.raises(UsageError):
        view.forecast_file(fc, "pdf")
    with pytest.raises(NumberError, match="budget"):
        view.forecast_with_budget(None, "lots", "month", model=model, prices=prices)
    content, name = view.forecast_download(None, "", None, "csv", model=model, prices=prices)
    assert name == "costlens_forecast.csv" and b"2027-01" in content


def test_forecast_upload_checked_and_errors_name_the_file(model, prices):
    plan = view.example_plan_path().read_text()
    upload = view.plan_upload(data_url(plan), "my plan.csv")
    assert upload["name"] == "my plan.csv"
    fc = view.run_forecast(upload, model=model, prices=prices)
    assert fc.total.jobs == len(plan.strip().splitlines()) - 1
    with pytest.raises(UsageError, match="plan is a"):
        view.plan_upload(data_url("x"), "evil.exe")
    with pytest.raises(UsageError):
        view.plan_upload("not a data url", "p.csv")
    with pytest.raises(UsageError, match="base64"):
        view.decode_upload("data:text/csv,abc", "p.csv")
    bad = view.plan_upload(data_url("name,month\nx,2027-13\n"), "bad.csv")
    with pytest.raises(PlanError, match=r"bad\.csv"):
        view.run_forecast(bad, model=model, prices=prices)
    assert view.choose_plan(True, data_url(plan), "p.csv") == (None, view.EXAMPLE_PLAN_LABEL)
    chosen, label = view.choose_plan(False, data_url(plan), "p.csv")
    assert chosen["name"] == "p.csv" and label == "uploaded plan: p.csv"
