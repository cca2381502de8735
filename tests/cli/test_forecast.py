"""`costlens forecast`: the JSON contract, budgets, output files, refusals (real estimator)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import tempfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = str(REPO / "data" / "example_plan.csv")
FAST = ("--sims", "1000")


def _json(res) -> dict:
    assert res.code == 0, res.err
    return json.loads(res.out)


def _run_in_process(*argv: str) -> tuple[int, str, str]:
    """The real command in this process (no interpreter start-up): (exit code, stdout, stderr)."""
    from costlens.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            main(list(argv))
        except SystemExit as exc:
            return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def _json_in_process(*argv: str) -> dict:
    code, out, err = _run_in_process(*argv)
    assert code == 0, err
    return json.loads(out)


def test_json_contract(cli) -> None:
    data = _json(cli("forecast", EXAMPLE, *FAST, "--format", "json"))
    for key in ("total_cost_usd", "total_cost_usd_low", "total_cost_usd_high", "months", "jobs",
                "projects", "what_ifs", "budget", "assumptions"):  # fmt: skip
        assert key in data, key
    assert data["total_cost_usd_low"] < data["total_cost_usd"] < data["total_cost_usd_high"]
    assert [m["month"] for m in data["months"]] == ["2027-01", "2027-02", "2027-03"]
    for m in data["months"]:
        assert m["cost_usd_low"] <= m["cost_usd"] <= m["cost_usd_high"]
    assert sum(m["cost_usd"] for m in data["months"]) == pytest.approx(data["total_cost_usd"])
    assert len(data["jobs"]) == 12 and data["jobs"][0]["line"] == 2
    assert set(data["what_ifs"]) == {"transfer", "cheapest_provider"}
    assert data["budget"] is None
    assert data["assumptions"]["simulation"]["n_sims"] == 1000
    assert data["assumptions"]["plan"] == EXAMPLE


def test_budget_per_month_names_the_months_over_with_probabilities(cli) -> None:
    data = _json(cli("forecast", EXAMPLE, *FAST, "--budget", "4000", "-f", "json"))
    b = data["budget"]
    assert b["period"] == "month" and b["budget_usd"] == 4000
    expected_over = [m["month"] for m in data["months"] if m["cost_usd"] > 4000]
    assert expected_over  # the example plan's January is above $4,000
    assert b["over_months"] == expected_over
    for p in b["periods"]:
        assert 0 <= p["p_over_budget"] <= 1
        if p["cost_usd_low"] > 4000:  # P10 above the budget: at least 90% of draws over
            assert p["p_over_budget"] >= 0.9
        if p["cost_usd_high"] < 4000:
            assert p["p_over_budget"] <= 0.1
    table = cli("forecast", EXAMPLE, *FAST, "--budget", "4000")
    assert table.code == 0 and "over in " + ", ".join(expected_over) in table.out


def test_budget_total() -> None:
    data = _json_in_process(
        "forecast", EXAMPLE, *FAST, "--budget", "1000000", "--budget-period", "total", "-f", "json"
    )
    (period,) = data["budget"]["periods"]
    assert period["month"] == "total" and period["over"] is False
    assert period["p_over_budget"] == 0.0 and data["budget"]["over_months"] == []


def test_out_files_agree_with_stdout(cli, tmp_path: Path) -> None:
    xlsx, csv_path = tmp_path / "q1.xlsx", tmp_path / "q1.csv"
    data = _json(cli("forecast", EXAMPLE, *FAST, "--out", str(xlsx), "-f", "json"))
    assert "wrote" in cli("forecast", EXAMPLE, *FAST, "--out", str(csv_path)).err
    wb = openpyxl.load_workbook(xlsx)
    sheet, ref = next(iter(wb.defined_names["total_cost_usd"].destinations))
    assert wb[sheet][ref.replace("$", "")].value == pytest.approx(data["total_cost_usd"], 1e-13)
    total = next(line for line in csv_path.read_text().splitlines() if line.startswith("total,"))
    assert str(data["total_cost_usd"]) in total.split(",")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q1.csv", "q1.xlsx"]


def test_csv_to_stdout() -> None:
    code, out, _ = _run_in_process("forecast", EXAMPLE, *FAST, "-f", "csv")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("level,month,project,name")
    assert sum(1 for line in lines if line.startswith("job,")) == 12


def test_bad_plan_is_refused_and_no_file_is_written(cli, tmp_path: Path) -> None:
    plan = tmp_path / "plan.csv"
    lines = Path(EXAMPLE).read_text().splitlines()
    lines[3] = lines[3].replace(",2027-01,", ",2027-13,")
    plan.write_text("\n".join(lines) + "\n")
    out = tmp_path / "budget.xlsx"
    res = cli("forecast", str(plan), "--out", str(out))
    assert res.code == 1
    assert f"{plan}:4 column 'month'" in res.err
    assert "Traceback" not in res.err and len(res.err.strip().splitlines()) == 1
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["plan.csv"]


def test_bad_out_suffix_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = _run_in_process("forecast", EXAMPLE, "--out", str(tmp_path / "budget.pdf"))
    assert code == 2 and ".xlsx, .csv or .json" in err
    assert list(tmp_path.iterdir()) == []


def test_user_prices_and_db_model(tmp_path: Path) -> None:
    """--prices replaces the shipped price rows (here: Lambda's 8x H100 at half price)."""
    shipped = (REPO / "data" / "gpu_prices.csv").read_text().splitlines()
    header = shipped[0].split(",")
    rows = [r for r in shipped[1:] if r.startswith("lambda,gpu_8x_h100_sxm5,")]
    assert rows
    price_col = header.index("price_usd_hour")
    cheap = []
    for r in rows:
        cells = next(csv.reader([r]))
        cells[price_col] = str(float(cells[price_col]) / 2)
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        cheap.append(buf.getvalue().strip())
    prices = tmp_path / "prices.csv"
    prices.write_text("\n".join([shipped[0], *cheap]) + "\n")
    base = _json_in_process("forecast", EXAMPLE, *FAST, "-f", "json")
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    from costlens.store import open_store

    open_store(db).dispose()  # an empty store: reading commands never create one
    half = _json_in_process(
        "forecast", EXAMPLE, *FAST, "-f", "json", "--prices", str(prices), "--db", db
    )
    by_name = {j["name"]: j for j in base["jobs"]}
    for j in half["jobs"]:
        if j["instance_type"] == "gpu_8x_h100_sxm5":
            assert j["cost_usd"] == pytest.approx(by_name[j["name"]]["cost_usd"] / 2, rel=1e-9)
        else:
            assert j["cost_usd"] == pytest.approx(by_name[j["name"]]["cost_usd"], rel=1e-9)
    assert half["total_cost_usd"] < base["total_cost_usd"]
    used = [p for p in half["assumptions"]["prices"] if p["instance_type"] == "gpu_8x_h100_sxm5"]
    assert used and used[0]["usd_per_gpu_hour"] == pytest.approx(31.92 / 2 / 8)


def test_large_plan_progress_stays_off_stdout(tmp_path: Path) -> None:
    lines = Path(EXAMPLE).read_text().splitlines()
    body = [
        line.replace(line.split(",")[0], f"{line.split(',')[0]}-{i}", 1)
        for i in range(50)
        for line in lines[1:]
    ]
    plan = tmp_path / "big.csv"
    plan.write_text("\n".join([lines[0], *body]) + "\n")
    data = _json_in_process("forecast", str(plan), "--sims", "200", "-f", "json")
    assert len(data["jobs"]) == 600


# In-process: generated bad cells through the real command, refused with line and column.
_COLUMNS = ["month", "params", "tokens", "gpus", "repeats", "gpu", "strategy", "spot"]
_BAD = {
    "month": ["2027-13", "2027-00", "Jan-2027"],
    "params": ["-8B", "0", "eight"],
    "tokens": ["-1", "lots"],
    "gpus": ["0", "1.5", "-8"],
    "repeats": ["0", "-1", "x"],
    "gpu": ["H1000", "Voodoo2"],
    "strategy": ["distil", "pretrain"],
    "spot": ["maybe", "2"],
}


@settings(max_examples=15, deadline=None)
@given(
    col=st.sampled_from(_COLUMNS),
    line_idx=st.integers(1, 12),
    pick=st.integers(0, 2),
)
def test_generated_bad_cells_through_the_cli(col, line_idx, pick) -> None:
    value = _BAD[col][pick % len(_BAD[col])]
    lines = Path(EXAMPLE).read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[line_idx].split(",")
    cells[header.index(col)] = value
    lines[line_idx] = ",".join(cells)
    folder = Path(tempfile.mkdtemp())
    try:
        plan, out = folder / "plan.csv", folder / "out.json"
        plan.write_text("\n".join(lines) + "\n")
        code, _, err = _run_in_process("forecast", str(plan), "--out", str(out))
        assert code == 1
        assert f"{plan}:{line_idx + 1} column '{col}'" in err
        assert sorted(p.name for p in folder.iterdir()) == ["plan.csv"]
    finally:
        shutil.rmtree(folder)
