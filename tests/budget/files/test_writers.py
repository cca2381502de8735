"""Forecast writers: XLSX read back with openpyxl, CSV and JSON agree, and writes are atomic."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import openpyxl
import pytest

from costlens.budget.files import CSV_COLUMNS, USD_FORMAT, write, write_csv, write_json, write_xlsx
from costlens.budget.forecast import ForecastOptions, forecast
from costlens.core.errors import CostlensError, UsageError
from tests.conftest import REPO

EXAMPLE = REPO / "data" / "example_plan.csv"


@pytest.fixture(scope="module")
def fc():
    """The example plan forecast with the real estimator (prior-only model), with a budget."""
    import os
    import tempfile

    old = os.environ.get("COSTLENS_HOME")
    os.environ["COSTLENS_HOME"] = tempfile.mkdtemp()  # no saved model: the prior-only one
    try:
        return forecast(EXAMPLE, ForecastOptions(n_sims=2000, budget_usd=4000.0))
    finally:
        if old is None:
            os.environ.pop("COSTLENS_HOME", None)
        else:
            os.environ["COSTLENS_HOME"] = old


@pytest.fixture(scope="module")
def written(fc, tmp_path_factory):
    folder = tmp_path_factory.mktemp("out")
    paths = {ext: folder / f"forecast.{ext}" for ext in ("json", "csv", "xlsx")}
    for path in paths.values():
        write(fc, path)
    return paths


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_xlsx_sheets_chart_and_totals_equal_json_and_csv(written) -> None:
    data = json.loads(written["json"].read_text())
    rows = _csv(written["csv"])
    wb = openpyxl.load_workbook(written["xlsx"])
    assert wb.sheetnames == ["Summary", "Jobs", "Assumptions"]
    summary = wb["Summary"]
    charts = summary._charts
    assert len(charts) == 1 and type(charts[0]).__name__ == "BarChart"

    total_row = next(r for r in rows if r["level"] == "total")
    for key in ("total_cost_usd", "total_cost_usd_low", "total_cost_usd_high"):
        sheet, ref = next(iter(wb.defined_names[key].destinations))
        cell = wb[sheet][ref.replace("$", "")]
        # Excel keeps 15 significant digits: equal to far below a cent
        assert cell.value == pytest.approx(data[key], rel=1e-13)
        assert float(total_row[key.removeprefix("total_")]) == data[key]
        assert cell.number_format == USD_FORMAT

    # the month table of the Summary sheet matches the JSON months
    month_rows: dict[str, list] = {}
    for r in summary.iter_rows():  # the first table with month rows is "By month"
        if isinstance(r[0].value, str) and r[0].value[:4].isdigit() and r[0].value[4] == "-":
            month_rows.setdefault(r[0].value, [c.value for c in r])
    assert list(month_rows) == [m["month"] for m in data["months"]]
    for m in data["months"]:
        xl = month_rows[m["month"]]
        assert xl[3:6] == pytest.approx([m["cost_usd"], m["cost_usd_low"], m["cost_usd_high"]])
    csv_months = [r for r in rows if r["level"] == "month"]
    assert [float(r["cost_usd"]) for r in csv_months] == [m["cost_usd"] for m in data["months"]]
    assert sum(m["cost_usd"] for m in data["months"]) == pytest.approx(data["total_cost_usd"])

    # the Jobs sheet: one row per job, currency formats, the same costs
    jobs = wb["Jobs"]
    header = [c.value for c in jobs[1]]
    col = header.index("Expected cost (USD)") + 1
    costs = [jobs.cell(row=r, column=col).value for r in range(2, jobs.max_row + 1)]
    assert costs == pytest.approx([j["cost_usd"] for j in data["jobs"]], rel=1e-13)
    assert jobs.cell(row=2, column=col).number_format == USD_FORMAT
    assert jobs.cell(row=1, column=col).font.b and not jobs.cell(row=2, column=col).font.b
    assert jobs.freeze_panes == "C2" and jobs.auto_filter.ref.startswith("A1:")
    assert [float(r["cost_usd"]) for r in rows if r["level"] == "job"] == [
        j["cost_usd"] for j in data["jobs"]
    ]


def test_xlsx_assumptions_name_prices_estimator_and_priors(written, fc) -> None:
    wb = openpyxl.load_workbook(written["xlsx"])
    text = "\n".join(
        str(c.value) for row in wb["Assumptions"].iter_rows() for c in row if c.value is not None
    )
    for price in fc.assumptions["prices"]:
        assert price["instance_type"] in text
        assert price["as_of"] in text
    assert "Estimator fingerprint" in text or "Estimator model" in text
    assert "Simulations" in text and "2000" in text
    assert "mfu" in text  # the prior table's kinds
    assert "Chowdhery" in text  # a prior's source, straight from data/mfu_priors.csv
    summary = "\n".join(
        str(c.value) for row in wb["Summary"].iter_rows() for c in row if c.value is not None
    )
    assert "transfer" in summary and "cheapest_provider" in summary
    assert "Budget" in summary


def test_csv_layout(written, fc) -> None:
    rows = _csv(written["csv"])
    assert list(rows[0].keys()) == list(CSV_COLUMNS)
    levels = [r["level"] for r in rows]
    assert levels.count("total") == 1
    assert levels.count("month") == len(fc.months)
    assert levels.count("project") == len(fc.projects)
    assert levels.count("job") == len(fc.jobs)
    assert {r["name"] for r in rows if r["level"] == "what_if"} == {"transfer", "cheapest_provider"}
    jan = next(r for r in rows if r["level"] == "month" and r["month"] == "2027-01")
    assert float(jan["budget_usd"]) == 4000.0 and 0 <= float(jan["p_over_budget"]) <= 1


def test_json_contract_and_unknown_energy_is_null(written, fc) -> None:
    data = json.loads(written["json"].read_text())
    for key in ("total_cost_usd", "total_cost_usd_low", "total_cost_usd_high", "months", "jobs",
                "projects", "what_ifs", "budget", "assumptions"):  # fmt: skip
        assert key in data
    for m in data["months"]:
        assert {"month", "cost_usd", "cost_usd_low", "cost_usd_high"} <= set(m)
    assert data["total_cost_usd_low"] < data["total_cost_usd"] < data["total_cost_usd_high"]
    # A10G has no TDP in the spec table: its jobs' energy is null, never a made-up 0
    a10g = [j for j in data["jobs"] if j["gpu"] == "A10G"]
    assert a10g and all(j["energy_kwh"] is None for j in a10g)
    assert data["energy_unknown_jobs"] == len(a10g)


class _Boom(RuntimeError):
    pass


@pytest.mark.parametrize("ext", ["xlsx", "csv", "json"])
def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(
    fc, tmp_path: Path, monkeypatch, ext
) -> None:
    target = tmp_path / f"budget.{ext}"
    target.write_text("the previous forecast")

    def half_then_fail(*args, **kwargs):
        for a in args:
            if isinstance(a, Path) and a.name.endswith(".tmp"):
                a.write_text("half a file")
        raise _Boom("disk full")

    import costlens.budget.files.csv_layout as export

    if ext == "xlsx":
        monkeypatch.setattr(openpyxl.Workbook, "save", lambda self, p: half_then_fail(Path(p)))
    elif ext == "csv":
        monkeypatch.setattr(
            export, "to_csv", lambda fc, fh: (fh.write("level\n"), half_then_fail())
        )
    else:
        original = Path.write_text

        def write_text(self, *a, **k):
            original(self, "{", encoding="utf-8")
            raise _Boom("disk full")

        monkeypatch.setattr(Path, "write_text", write_text)
    with pytest.raises(_Boom):
        {"xlsx": write_xlsx, "csv": write_csv, "json": write_json}[ext](fc, target)
    monkeypatch.undo()
    assert target.read_text() == "the previous forecast"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"budget.{ext}"]


def test_bad_targets(fc, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"\.xlsx, \.csv or \.json"):
        write(fc, tmp_path / "budget.pdf")
    with pytest.raises(CostlensError, match="does not exist"):
        write(fc, tmp_path / "missing" / "budget.json")
    assert list(tmp_path.iterdir()) == []


def test_written_file_gets_the_umask_mode_not_mkstemps_0600(fc, tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        path = write_json(fc, tmp_path / "f.json")
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_xlsx_values_are_finite_numbers(written) -> None:
    wb = openpyxl.load_workbook(written["xlsx"])
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, float):
                    assert math.isfinite(c.value)


def test_xlsx_headers_have_one_style(written) -> None:
    """The defect: the Jobs sheet mixed header case (``Expected cost (USD)`` beside raw keys
    such as ``instance_type``). Every header is sentence case, never a snake_case key."""
    wb = openpyxl.load_workbook(written["xlsx"])
    header = [c.value for c in wb["Jobs"][1]]
    assert "Instance type" in header and "Label cost (USD)" in header
    for text in header:
        assert "_" not in text and text[:1].isupper(), text
