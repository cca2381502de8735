"""A forecast's planned jobs as FOCUS 1.2 planned-cost rows, checked against the column rules."""

from __future__ import annotations

import pytest

from costlens.budget.files.focus_plan import month_period, planned_rows
from costlens.price.focus import csv_cells
from costlens.price.focus_spec import row_problems

JOB = {"name": "pretrain", "project": "p", "month": "2026-12", "strategy": "scratch",
       "provider": "aws", "instance_type": "p4d.24xlarge", "spot": False, "repeats": 2,
       "cost_usd": 120.5, "cost_usd_low": 90.0, "cost_usd_high": 160.0,
       "gpu_hours": 40.0}  # fmt: skip


def test_planned_rows_pass_the_focus_column_rules():
    (row,) = planned_rows([JOB, {**JOB, "cost_usd": float("nan")}])
    assert row_problems(csv_cells(row)) == []
    assert row["ChargeCategory"] == "Usage" and row["x_CostKind"] == "planned"
    assert (row["ChargePeriodStart"], row["ChargePeriodEnd"]) == (
        "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z")  # fmt: skip
    assert row["BilledCost"] == row["EffectiveCost"] == pytest.approx(120.5)
    assert (row["x_CostLowUsd"], row["x_CostHighUsd"]) == (90.0, 160.0)
    assert row["ConsumedQuantity"] == 40.0 and row["ConsumedUnit"] == "GPU-Hours"


def test_a_job_without_gpu_hours_still_conforms():
    (row,) = planned_rows([{**JOB, "gpu_hours": None}])
    assert row_problems(csv_cells(row)) == []
    assert (row["PricingQuantity"], row["PricingUnit"]) == (2, "Runs")
    assert row["ConsumedQuantity"] is None and row["ConsumedUnit"] is None


def test_month_period_rolls_the_year():
    assert month_period("2026-03") == ("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
