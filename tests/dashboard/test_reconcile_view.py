"""The reconcile page's view: the sample FOCUS bill, uploaded, against runs recorded on the same
resource ids; its totals add up to the bill; a bad bill gets one message naming row and column."""

from __future__ import annotations

import pytest

from costlens.core.errors import DataTableError, UsageError
from costlens.price.tables import PriceTable
from dashboard.views import reconcile as view
from tests.dashboard.test_forecast_view import data_url
from tests.price.test_reconcile import BILL, SMALL, VM_A, _recorded


def test_reconcile_view_on_the_sample_bill(store):
    _recorded(store)
    upload = view.bill_upload(data_url(BILL.read_text()), "january.csv")
    rec = view.reconcile_upload(upload, store=store, prices=PriceTable.load(SMALL))
    t = rec.totals
    assert t["explained_usd"] + t["idle_usd"] + t["out_of_scope_usd"] == pytest.approx(
        t["billed_usd"]
    )
    cards = dict((label, figure) for label, figure, _ in view.totals(rec))
    assert cards == {"Billed": "$86.85", "Explained by runs": "$45.00", "Idle": "$38.00",
                     "Out of scope": "$3.85", "costlens priced": "$50.00"}  # fmt: skip
    vm_a = next(r for r in view.instance_rows(rec) if r["instance"] == VM_A)
    assert (vm_a["billed"], vm_a["gap"], vm_a["runs"]) == ("$72.00", "-$5.00", "2")
    assert "discounts on the bill" in vm_a["reasons"]
    projects = {r["project"]: r for r in view.project_rows(rec)}
    assert projects["llm"]["explained"] == "$36.00" and projects["llm"]["priced"] == "$40.00"
    assert {r["reason"] for r in view.out_of_scope_rows(rec)} >= {"Tax charges", "Storage usage"}
    assert any(s.startswith(VM_A) and "discounts" in s for s in view.gap_reasons(rec))


def test_a_bad_bill_names_the_file_row_and_column(store):
    text = BILL.read_text().splitlines()
    text[2] = text[2].replace("2026-01-05T11:00:00Z", "yesterday", 1)
    upload = view.bill_upload(data_url("\n".join(text) + "\n"), "bad bill.csv")
    with pytest.raises(DataTableError) as err:
        view.reconcile_upload(upload, store=store, prices=PriceTable.load(SMALL))
    message = str(err.value)
    assert message.startswith("bad bill.csv:3 column 'ChargePeriodStart'")
    assert "costlens_bill_" not in message  # the temporary copy's name never shows
    with pytest.raises(UsageError, match=r"FOCUS bill is a \.csv"):
        view.bill_upload(data_url("x"), "bill.exe")
    assert view.choose_bill(None, None) == (None, view.NO_BILL_LABEL)
    assert view.choose_bill(data_url("a,b\n"), "b.csv")[1] == "bill: b.csv"
