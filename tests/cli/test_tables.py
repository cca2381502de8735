"""Terminal tables that fit: at 80 and 120 columns every line fits, ids and numbers print whole."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest

from costlens.cli.tables import COUNT, FLOPS, USD, Col, build_table, number_text
from costlens.store import insert_run, open_store
from costlens.store.queries import utcnow

RUN_IDS = ("c9ad8e5720be4f0b9a1c", "77f1e2d3c4b5a6978899")
LONG_NAME = "resnet50 fine-tune on an imagenet subset with a very long and descriptive name"


@pytest.fixture
def filled(sqlite_url: str) -> str:
    store = open_store(sqlite_url)
    now = utcnow()
    for i, (rid, dev, n) in enumerate(
        [(RUN_IDS[0], "NVIDIA A100-SXM4-80GB", 3), (RUN_IDS[1], "CPU", 0)]
    ):
        insert_run(
            store,
            {
                "id": rid,
                "project": "a-rather-long-project-name-for-vision",
                "name": LONG_NAME,
                "status": "completed",
                "started_at": now - timedelta(hours=i + 1),
                "ended_at": now,
                "steps": 123456,
                "flops": 1.21e12,
                "device_name": dev,
                "device_count": n,
                "host_cpu_count": 8,
                "energy_j": 7.2e6,
            },
        )
    store.dispose()
    return sqlite_url


def _fits(text: str, width: int) -> list[str]:
    lines = text.splitlines()
    assert lines, "nothing printed"
    too_long = [ln for ln in lines if len(ln.rstrip()) > width]
    assert not too_long, f"{len(too_long)} line(s) over {width}: {too_long[:2]}"
    return lines


@pytest.mark.parametrize("width", [80, 120])
def test_runs_table_fits_and_keeps_ids_and_numbers_whole(cli, filled, width):
    res = cli("runs", "--db", filled, env={"COLUMNS": str(width)})
    assert res.code == 0, res.err
    lines = _fits(res.out, width)
    for rid in RUN_IDS:  # the 12-character short id, on one line
        assert any(rid[:12] in ln for ln in lines), res.out
    rows = [ln for ln in lines if ln.startswith(tuple(r[:12] for r in RUN_IDS))]
    assert len(rows) == 2  # one line per run
    assert "completed" in rows[0]
    assert "not shown at this width" in res.out  # 13 columns do not fit in 80 or 120
    if width == 120:  # device-hours with their unit (issue 20), whole
        assert "3 GPU-h" in rows[0]
        picked = cli("runs", "--db", filled, "--columns", "id,steps", env={"COLUMNS": "120"})
        assert "123k" in picked.out  # steps, a count: one style (never 123,456 beside 1.33M)


@pytest.fixture
def cpu_runs(sqlite_url: str) -> str:
    """Two CPU runs: no device name, 0 GPU-hours."""
    store = open_store(sqlite_url)
    now = utcnow()
    for i, rid in enumerate(RUN_IDS):
        insert_run(
            store,
            {"id": rid, "project": "p", "name": f"cpu-run-{i}", "status": "completed",
             "strategy": "scratch", "started_at": now - timedelta(hours=i + 1), "ended_at": now,
             "steps": 10, "device_count": 0, "host_cpu_count": 8},
        )  # fmt: skip
    store.dispose()
    return sqlite_url


def test_runs_at_80_columns_drops_empty_and_all_zero_columns_before_name(cli, cpu_runs):
    """The defect: at 80 columns `runs` hid name and strategy but kept an empty ``device``
    column and an all-zero ``GPU-h`` column."""
    res = cli("runs", "--db", cpu_runs, env={"COLUMNS": "80"})
    assert res.code == 0, res.err
    header = _fits(res.out, 80)[0].split()
    assert "name" in header and "strategy" in header, res.out
    assert "device" not in header and "GPU-h" not in header, res.out
    assert "cpu-run-0" in res.out


def test_blank_columns_are_dropped_first_in_build_table():
    rows = [{"id": "a", "zero": 0, "none": None, "text": "informative"}] * 2
    cols = [Col("id", priority=0, kind="id"), Col("zero", priority=1, kind="num"),
            Col("none", priority=1), Col("text", priority=2)]  # fmt: skip
    _, hidden = build_table(rows, cols, 16)
    assert [c.key for c in hidden] == ["zero", "none"]


def test_runs_columns_picks_and_wide_shows_all(cli, filled):
    res = cli("runs", "--db", filled, "--columns", "id,flops,name", env={"COLUMNS": "80"})
    assert res.code == 0, res.err
    header = res.out.splitlines()[0].split()
    assert header == ["id", "FLOPs", "name"]
    assert "1.21T" in res.out
    wide = cli("runs", "--db", filled, "--wide", env={"COLUMNS": "80"})
    assert wide.code == 0, wide.err
    assert LONG_NAME in wide.out  # uncut
    assert "not shown" not in wide.out


def test_unknown_column_is_a_usage_error(cli, filled):
    res = cli("runs", "--db", filled, "--columns", "id,bogus")
    assert res.code == 2
    assert "bogus" in res.err and "Traceback" not in res.err


def test_json_and_csv_are_not_cut(cli, filled):
    res = cli("runs", "--db", filled, "--format", "json", env={"COLUMNS": "80"})
    rows = json.loads(res.out)
    assert {r["name"] for r in rows} == {LONG_NAME}
    assert {r["id"] for r in rows} == set(RUN_IDS)
    csv_out = cli("runs", "--db", filled, "--format", "csv", env={"COLUMNS": "80"}).out
    assert LONG_NAME in csv_out


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize(
    "args", [("prices", "--gpu", "A100"), ("prices", "--gpu", "cpu", "--spot"), ("gpus",)]
)
def test_catalog_tables_fit(cli, width, args):
    res = cli(*args, env={"COLUMNS": str(width)})
    assert res.code == 0, res.err
    lines = _fits(res.out, width)
    assert "…" not in "".join(lines[2:5]) or args[0] != "gpus"  # gpu keys are never cut


def test_prices_mark_unconfirmed_rows(cli):
    table = cli("prices", "--gpu", "H100", "--provider", "gcp", env={"COLUMNS": "80"})
    assert table.code == 0, table.err
    assert "conf." in table.out.splitlines()[0]
    rows = json.loads(cli("prices", "--gpu", "H100", "--provider", "gcp", "-f", "json").out)
    doubtful = [r for r in rows if not r["confirmed"]]
    assert doubtful and all("UNCONFIRMED" in r["note"] for r in doubtful)
    assert all(r["confirmed"] == ("UNCONFIRMED" not in (r["note"] or "")) for r in rows)
    assert f"{len(doubtful)} of {len(rows)} rows are UNCONFIRMED" in table.out.replace("\n", " ")


@pytest.mark.parametrize("width", [80, 120])
def test_cost_sections_fit_with_cpu_units(cli, filled, width):
    res = cli("cost", RUN_IDS[1][:8], "--db", filled, env={"COLUMNS": str(width)})
    assert res.code == 0, res.err
    _fits(res.out, width)
    for section in ("What ran", "What it cost, and why", "Energy", "The same run elsewhere"):
        assert section in res.out
    assert "per instance-hour" in res.out and "per vCPU-hour" in res.out
    assert "GPU-hour" not in res.out.replace("GPU-hours", "")  # a CPU run has no GPU-hour rate
    assert "lowest spot" not in res.out  # an on-demand quote
    assert RUN_IDS[1] in res.out


def test_cost_gpu_run_says_whole_instance_is_billed(cli, filled):
    res = cli("cost", RUN_IDS[0][:8], "--db", filled, "--provider", "aws", env={"COLUMNS": "120"})
    assert res.code == 0, res.err
    # 3 A100-80GB on AWS: the smallest A100-80GB instance there has 8 GPUs.
    assert "8 GPUs billed for 3 used" in res.out
    assert "per GPU-hour" in res.out


def test_cost_spot_keeps_the_spot_wording(cli, filled):
    res = cli("cost", RUN_IDS[1][:8], "--db", filled, "--spot", "--provider", "aws",
              env={"COLUMNS": "200"})  # wide enough for the whole source line  # fmt: skip
    assert res.code == 0, res.err
    assert "spot" in res.out and "lowest spot over the region's zones" in res.out


def test_number_text_is_short_and_whole_and_never_scientific():
    assert number_text(1.21e12, FLOPS) == "1.21T"
    assert number_text(6e19, FLOPS) == "60E"
    assert number_text(123456) == "123,456"
    assert number_text(900.0) == "900"
    assert number_text(0.00001234) == "0.000012"
    assert number_text(1.5e-05, USD) == "$0.000015"  # was "cost $ 1.5e-05" in `runs`
    assert [number_text(v, COUNT) for v in (1.33e6, 617_332)] == ["1.33M", "617k"]


def test_no_line_over_width_for_any_cell_mix():
    from rich.console import Console

    rows = [{"id": "x" * 20, "n": 1.5e9, "t": "word " * 40} for _ in range(3)]
    cols = [Col("id", priority=0, kind="id"), Col("n", kind="num"), Col("t", priority=1)]
    for width in (40, 80):
        console = Console(width=width, file=io.StringIO(), record=True)
        table, hidden = build_table(rows, cols, width)
        console.print(table)
        text = console.export_text()
        _fits(text, width)
        assert "x" * 20 in text
        assert ("1,500,000,000" in text) == (cols[1] not in hidden)


def test_estimate_says_whole_instance_billed_and_unconfirmed(cli):
    args = ("estimate", "--params", "1B", "--tokens", "10B", "--gpu", "A100-80GB")
    one = json.loads(cli(*args, "--gpus", "1", "--provider", "aws", "-f", "json").out)
    # AWS's only A100-80GB instance is p4de.24xlarge (8 GPUs): 1 GPU pays the whole instance.
    assert one["instance_gpus"] == 8 and one["gpus"] == 1
    assert one["usd_per_gpu_hour"] == pytest.approx(one["usd_per_instance_hour"])
    table = cli(*args, "--gpus", "1", "--provider", "aws", env={"COLUMNS": "80"})
    assert table.code == 0, table.err
    _fits(table.out, 80)
    assert "the whole instance is billed" in " ".join(table.out.split())
    h100 = ("--gpu", "H100", "--gpus", "8", "--provider", "gcp", "--instance", "a3-highgpu-8g")
    doubt = json.loads(cli(*args[:5], *h100, "-f", "json").out)
    assert doubt["price_confirmed"] is False
    text = cli(*args[:5], *h100, env={"COLUMNS": "120"}).out
    assert "UNCONFIRMED" in text


def test_forecast_names_unconfirmed_prices(cli, tmp_path):
    plan = tmp_path / "plan.csv"
    plan.write_text(
        "name,month,strategy,params,tokens,gpu,gpus,provider,instance\n"
        "a,2027-01,lora,1B,1B,H100,8,gcp,a3-highgpu-8g\n"
    )
    res = cli("forecast", str(plan), "--sims", "200", env={"COLUMNS": "120"})
    assert res.code == 0, res.err
    assert "Priced on UNCONFIRMED price row(s): gcp a3-highgpu-8g" in " ".join(res.out.split())
    out = json.loads(cli("forecast", str(plan), "--sims", "200", "-f", "json").out)
    rows = out["assumptions"]["prices"]
    assert rows[0]["confirmed"] is False and rows[0]["instance_gpus"] == 8
