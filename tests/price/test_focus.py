"""FOCUS 1.2 export: the rows pass the column rules encoded from the specification (FOCUS_Spec
v1.2), read back from the CLI's CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest

from costlens.price.focus import FOCUS_COLUMNS, csv_cells, decimal_text, focus_rows
from costlens.price.focus_spec import MANDATORY, cell_problem, row_problems
from costlens.price.tables import PriceTable
from costlens.store import insert_run
from costlens.store.queries import list_runs
from tests.conftest import FIXTURES

SMALL = FIXTURES / "prices_small.csv"
T0 = datetime(2026, 1, 5, 10, 0, 0)


def _runs(store) -> None:
    insert_run(store, {"id": "focus001", "project": "llm", "name": "=HYPERLINK(1)",
                       "started_at": T0, "ended_at": T0 + timedelta(hours=2),
                       "status": "completed", "device_name": "NVIDIA A100-SXM4-80GB",
                       "device_count": 8, "provider": "testcloud", "instance_type": "tc.8xa100",
                       "region": "r1", "zone": "r1a", "instance_id": "i-0a1b2c3d4e5f60001",
                       "instance_basis": "detected", "purchase_option": "on-demand",
                       "strategy": "lora", "flops": 3.2e18})  # fmt: skip
    insert_run(store, {"id": "focus002", "project": "cpu", "started_at": T0,
                       "ended_at": T0 + timedelta(minutes=30), "status": "completed",
                       "device_name": "CPU", "device_count": 0, "host_cpu_count": 4})  # fmt: skip
    insert_run(store, {"id": "noprice1", "started_at": T0, "ended_at": T0 + timedelta(hours=1),
                       "status": "completed", "device_name": "NVIDIA GeForce RTX 4090",
                       "device_count": 2})  # fmt: skip


def test_rows_follow_the_focus_rules(store):
    _runs(store)
    done = focus_rows(list_runs(store), prices=PriceTable.load(SMALL))
    assert [r["x_RunId"] for r in done.rows] == ["focus001", "focus002"]
    assert [s[0] for s in done.skipped] == ["noprice1"]  # no price: left out, not $0
    gpu = done.rows[0]
    assert gpu["ChargeCategory"] == "Usage" and gpu["ServiceCategory"] == "AI and Machine Learning"
    assert gpu["ResourceId"] == "i-0a1b2c3d4e5f60001" and gpu["AvailabilityZone"] == "r1a"
    # 8 GPUs x 2 h = 16 GPU-hours consumed; 1 x tc.8xa100 x 2 h x $20/h = $40 billed.
    assert (gpu["ConsumedQuantity"], gpu["ConsumedUnit"]) == (16.0, "GPU-Hours")
    assert gpu["BilledCost"] == pytest.approx(40.0) and gpu["PricingQuantity"] == 2.0
    assert gpu["ListUnitPrice"] * gpu["PricingQuantity"] == pytest.approx(gpu["ListCost"])
    assert (gpu["ChargePeriodStart"], gpu["ChargePeriodEnd"]) == (
        "2026-01-05T10:00:00Z", "2026-01-05T12:00:00Z")  # fmt: skip
    assert (gpu["BillingPeriodStart"], gpu["BillingPeriodEnd"]) == (
        "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")  # fmt: skip
    assert done.rows[1]["ConsumedUnit"] == "Hours"  # a CPU run: instance-hours
    for row in done.rows:
        assert row_problems(row) == []
        assert row_problems(csv_cells(row)) == []


def test_cli_csv_passes_the_column_rules(store, sqlite_url, cli, tmp_path):
    _runs(store)
    out = tmp_path / "focus.csv"
    r = cli("export", "focus", "--db", sqlite_url, "--prices", str(SMALL), "--out", str(out))
    assert r.code == 0, r.err
    assert "left out run noprice1" in r.err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 2 and list(rows[0]) == list(FOCUS_COLUMNS)
    assert {c.name for c in MANDATORY} <= set(rows[0])
    for row in rows:
        assert row_problems(row) == [], row
    assert rows[0]["x_RunName"] == "'=HYPERLINK(1)"  # a formula is written as text
    assert rows[0]["x_Flops"] == "3.2E18"  # FOCUS numeric format: no "+" in the exponent
    only = cli("export", "focus", "--db", sqlite_url, "--prices", str(SMALL), "--project", "cpu")
    assert only.code == 0 and len(only.out.strip().splitlines()) == 2


def test_the_rules_catch_what_the_spec_forbids():
    row = dict.fromkeys((c.name for c in MANDATORY), "x")
    problems = dict(row_problems({**row, "Oops": 1}))
    assert "must start with x_" in problems["Oops"]
    assert "currency" in problems["BillingCurrency"] and "decimal" in problems["BilledCost"]
    assert "UTC" in problems["ChargePeriodStart"]
    assert "not one of" in problems["ChargeCategory"]
    bad = dict(row_problems({k: v for k, v in row.items() if k != "ProviderName"}))
    assert bad["ProviderName"] == "column missing"
    date = next(c for c in MANDATORY if c.name == "ChargePeriodStart")
    assert cell_problem(date, "2026-01-05T10:00:00+02:00") is not None
    assert cell_problem(date, "2026-01-05T10:00:00Z") is None
    assert decimal_text(1e-7) == "1E-07" and decimal_text(40.0) == "40"


def test_the_sample_bill_passes_the_rules():
    for row in csv.DictReader((FIXTURES / "focus_bill.csv").open()):
        assert row_problems(row) == [], row


def test_cli_writes_a_plans_forecast_as_planned_cost_after_the_runs(
    store, sqlite_url, cli, tmp_path
):
    from tests.conftest import REPO

    _runs(store)
    out = tmp_path / "focus.csv"
    plan = REPO / "data" / "example_plan.csv"
    r = cli("export", "focus", "--db", sqlite_url, "--prices", str(SMALL), "--plan", str(plan),
            "--out", str(out))  # fmt: skip
    assert r.code == 0, r.err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    planned = [row for row in rows if row["x_CostKind"] == "planned"]
    assert len(rows) - len(planned) == 2 and len(planned) >= 10  # the runs, then the plan's jobs
    for row in rows:
        assert row_problems({k: v for k, v in row.items() if not k.startswith("x_") or v}) == [], (
            row
        )
    assert all(float(p["x_CostLowUsd"]) <= float(p["BilledCost"]) <= float(p["x_CostHighUsd"])
               for p in planned)  # fmt: skip
    assert cli("export", "focus", "--db", sqlite_url, "--plan", str(tmp_path / "no.csv")).code == 1
