"""`costlens reconcile`: every billed dollar goes to runs, idle or out of scope, and the sums add
up to the bill (a sample FOCUS bill written from the specification's columns, with runs recorded
on the same resource ids)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from costlens.core.errors import DataTableError
from costlens.price.bill import read_bill
from costlens.price.reconcile import reconcile
from costlens.price.tables import PriceTable
from costlens.store import insert_run
from costlens.store.queries import list_runs
from tests.conftest import FIXTURES

SMALL = FIXTURES / "prices_small.csv"
BILL = FIXTURES / "focus_bill.csv"
T0 = datetime(2026, 1, 5, 10, 0, 0)
VM_A = "i-0a1b2c3d4e5f60001"


def _run(store, run_id, project, start, hours, **extra):
    insert_run(store, {"id": run_id, "project": project, "started_at": start,
                       "ended_at": start + timedelta(hours=hours), "status": "completed",
                       "device_name": "NVIDIA A100-SXM4-80GB", "device_count": 8,
                       "provider": "testcloud", "instance_type": "tc.8xa100", "region": "r1",
                       "instance_id": VM_A, "instance_basis": "detected", **extra})  # fmt: skip


def _recorded(store) -> None:
    _run(store, "llmrun01", "llm", T0, 2.0)  # 10:00-12:00, priced 2 h x $20 = $40
    _run(store, "visrun01", "vision", T0 + timedelta(hours=3), 0.5)  # 13:00-13:30, $10
    _run(store, "elsewhr1", "llm", T0, 1.0, instance_id="i-not-on-this-bill")


def test_every_billed_dollar_is_attributed(store):
    _recorded(store)
    result = reconcile(read_bill(BILL), list_runs(store), prices=PriceTable.load(SMALL))
    t = result.totals
    # VM A: 4 hourly lines of $18 (list $20): runs cover 10-12 ($36) and 13:00-13:30 ($9).
    assert t["explained_usd"] == pytest.approx(45.0)
    # VM A 12-13 and 13:30-14 ($27) plus VM B, on which no run was recorded ($11).
    assert t["idle_usd"] == pytest.approx(38.0)
    # storage 3.50 + network 1.25 + tax 4.10 + credit -5.00
    assert t["out_of_scope_usd"] == pytest.approx(3.85)
    assert t["billed_usd"] == pytest.approx(86.85)
    assert t["explained_usd"] + t["idle_usd"] + t["out_of_scope_usd"] == pytest.approx(
        t["billed_usd"], abs=1e-9
    )
    vm_a = next(r for r in result.instances if r["resource_id"] == VM_A)
    assert (vm_a["billed_usd"], vm_a["runs"], vm_a["project"]) == (72.0, 2, "(several projects)")
    assert vm_a["priced_usd"] == pytest.approx(50.0) and vm_a["gap_usd"] == pytest.approx(-5.0)
    assert any("discounts on the bill" in why for why in vm_a["gap_reasons"])
    projects = {r["project"]: r for r in result.projects}
    assert projects["llm"]["explained_usd"] == pytest.approx(36.0)
    assert projects["llm"]["priced_usd"] == pytest.approx(40.0)
    assert projects["vision"]["explained_usd"] == pytest.approx(9.0)
    assert sum(r["billed_usd"] for r in result.projects) + t["out_of_scope_usd"] == pytest.approx(
        t["billed_usd"]
    )
    reasons = {r["reason"] for r in result.out_of_scope}
    assert reasons == {"Storage usage", "Networking usage", "Tax charges", "Credit charges"}


def test_overlapping_runs_share_a_line(store):
    _run(store, "a", "p1", T0, 1.0)
    _run(store, "b", "p2", T0 + timedelta(minutes=30), 1.0)
    result = reconcile(read_bill(BILL), list_runs(store), prices=PriceTable.load(SMALL))
    projects = {r["project"]: r["explained_usd"] for r in result.projects}
    # 10:00-10:30 p1 alone ($9), 10:30-11:00 shared ($4.5 each), 11:00-11:30 p2 alone ($9).
    assert projects["p1"] == pytest.approx(13.5) and projects["p2"] == pytest.approx(13.5)


def test_cli_reconcile(store, sqlite_url, cli):
    _recorded(store)
    r = cli("reconcile", str(BILL), "--db", sqlite_url, "--prices", str(SMALL), "-f", "json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["totals"]["billed_usd"] == pytest.approx(86.85)
    table = cli("reconcile", str(BILL), "--db", sqlite_url, "--prices", str(SMALL))
    assert table.code == 0 and VM_A in table.out and "$86.85" in table.out


@pytest.mark.parametrize(
    ("change", "line", "column"),
    [
        (("BilledCost", "18.00", "18,00"), 2, "BilledCost"),
        (("ChargeCategory", "Usage", "Usgae"), 2, "ChargeCategory"),
        (("ChargePeriodStart", "2026-01-05T10:00:00Z", "05/01/2026 10:00"), 2, "ChargePeriodStart"),
        (("BillingCurrency", "USD", "US$"), 2, "BillingCurrency"),
    ],
)
def test_a_bad_bill_names_the_row_and_column(tmp_path, cli, sqlite_url, change, line, column):
    lines = BILL.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    at = header.index(change[0])
    assert cells[at] == change[1]
    cells[at] = f'"{change[2]}"' if "," in change[2] else change[2]
    bad = tmp_path / "bill.csv"
    bad.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    with pytest.raises(DataTableError) as err:
        read_bill(bad)
    assert (err.value.line, err.value.column) == (line, column)
    r = cli("reconcile", str(bad), "--db", sqlite_url)
    assert r.code == 1 and f":{line} column {column!r}" in r.err and "Traceback" not in r.err


def test_not_a_bill_and_mixed_currencies(tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(DataTableError, match="not a FOCUS bill: no column BilledCost"):
        read_bill(other)
    lines = BILL.read_text().splitlines()
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([*lines[:3], lines[3].replace(",USD,", ",EUR,"), *lines[4:]]))
    with pytest.raises(DataTableError, match="mixes currencies") as err:
        read_bill(mixed)
    assert err.value.line == 4
    with pytest.raises(DataTableError, match="as CSV"):
        read_bill(tmp_path / "bill.parquet")
