"""The `costlens prices|gpus|cost` commands (in-process): JSON contract, errors, import."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"
SMALL = FIXTURES / "prices_small.csv"
REQUIRED = {
    "provider", "instance_type", "gpu", "gpu_count", "region", "price_usd_hour",
    "spot_price_usd_hour", "usd_per_gpu_hour", "as_of", "source",
}  # fmt: skip


def test_prices_json_contract_sorted_by_gpu_hour(cli):
    r = cli("prices", "--gpu", "NVIDIA H100 80GB HBM3", "--format", "json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert rows and all(set(row) >= REQUIRED for row in rows)
    assert {row["gpu"] for row in rows} == {"H100-SXM"}
    per = [row["usd_per_gpu_hour"] for row in rows]
    assert per == sorted(per)
    p5 = next(x for x in rows if x["instance_type"] == "p5.48xlarge" and x["region"] == "us-east-1")
    assert p5["usd_per_gpu_hour"] == pytest.approx(55.04 / 8)
    assert {row["provider"] for row in rows} >= {"aws", "gcp", "azure", "lambda"}


def test_prices_spot_and_provider_filters(cli):
    r = cli("prices", "--gpu", "a100-80gb", "--provider", "aws", "--spot", "--format", "json")
    assert r.code == 0, r.err
    rows = json.loads(r.out)
    assert rows and all(x["provider"] == "aws" and x["spot_price_usd_hour"] for x in rows)
    spot = [x["spot_usd_per_gpu_hour"] for x in rows]
    assert spot == sorted(spot)


def test_unknown_gpu_exits_1_with_close_names_and_no_traceback(cli):
    r = cli("prices", "--gpu", "A100-90GB")
    assert r.code == 1
    assert "Closest known names" in r.err and "A100" in r.err
    assert "Traceback" not in r.err + r.out


def test_prices_file_overrides_and_csv_output(cli):
    r = cli("prices", "--prices", str(SMALL), "--provider", "testcloud", "--format", "csv")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(r.out.splitlines()))
    assert {x["instance_type"] for x in rows} == {"tc.8xa100", "tc.1xa100", "tc.cpu4", "tc.cpu16"}
    assert all(x["origin"] == "user" for x in rows)


def test_malformed_prices_file_is_one_clear_error(cli, tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text(SMALL.read_text().replace("20.00,6.00", "-20.00,6.00"))
    r = cli("prices", "--prices", str(bad))
    assert r.code == 1
    assert f"{bad}:2 column 'price_usd_hour'" in r.err
    assert "Traceback" not in r.err


def test_gpus_json(cli):
    r = cli("gpus", "--format", "json")
    assert r.code == 0, r.err
    specs = {s["key"]: s for s in json.loads(r.out)}
    assert specs["H100-SXM"]["peak_bf16_flops_per_s"] == pytest.approx(989.5e12)
    assert specs["CPU"]["peak_fp32_flops_per_s"] is None
    assert all(s["source"] for s in specs.values())


def test_import_skypilot_aws_gcp_lambda_merge(cli, tmp_path: Path):
    out = tmp_path / "prices.csv"
    for name, extra in (("aws", []), ("gcp", []), ("lambda", ["--include-cpu"])):
        r = cli("prices", "import", str(FIXTURES / f"skypilot_{name}_vms.csv"), "--format",
                "skypilot", "--provider", name, "--prices-out", str(out), "--as-of", "2026-11-01",
                *extra)  # fmt: skip
        assert r.code == 0, r.err
        assert f"{name} rows" in r.err
    rows = {(x["provider"], x["instance_type"], x["region"]): x for x in csv.DictReader(out.open())}
    # AWS: one row per region; on-demand 1.3232, lowest spot over the zones
    # (us-east-1: 0.6637, 0.6855, 0.6933, 0.6785 -> 0.6637; us-east-2 -> 0.5281).
    g6 = rows[("aws", "g6.4xlarge", "us-east-1")]
    assert (g6["gpu"], g6["gpu_count"], float(g6["price_usd_hour"])) == ("L4", "1", 1.3232)
    assert float(g6["spot_price_usd_hour"]) == pytest.approx(0.6637)
    assert float(rows[("aws", "g6.4xlarge", "us-east-2")]["spot_price_usd_hour"]) == 0.5281
    assert ("aws", "c6id.large", "us-east-1") not in rows  # CPU rows only with --include-cpu
    # GCP: host row + GPU row of the same zone: 9.46006 + 33.60609 = 43.06615 on demand,
    # 2.88933 + 23.9408 = 26.83013 spot (the shipped extract's a3-highgpu-8g us-central1 row).
    a3 = rows[("gcp", "a3-highgpu-8g", "us-central1")]
    assert (a3["gpu"], a3["gpu_count"]) == ("H100-SXM", "8")
    assert float(a3["price_usd_hour"]) == pytest.approx(43.06615)
    assert float(a3["spot_price_usd_hour"]) == pytest.approx(26.83013)
    assert float(rows[("gcp", "a3-highgpu-8g", "us-east4")]["price_usd_hour"]) == pytest.approx(
        87.83247
    )
    # Lambda: V100 -> the 16 GB SXM2 key, CPU rows imported with --include-cpu, no spot.
    assert rows[("lambda", "gpu_8x_v100", "us-east-1")]["gpu"] == "V100-16GB-SXM2"
    assert rows[("lambda", "cpu_4x_general", "us-east-1")]["gpu"] == "CPU"
    assert rows[("lambda", "gpu_1x_a6000", "us-east-1")]["spot_price_usd_hour"] == ""
    assert all(x["as_of"] == "2026-11-01" and "SkyPilot" in x["source"] for x in rows.values())
    # The imported table is a valid user price file.
    r = cli("prices", "--prices", str(out), "--gpu", "L4", "--provider", "aws", "--format", "json")
    assert r.code == 0, r.err
    assert any(x["origin"] == "user" for x in json.loads(r.out))


def test_import_into_default_user_file(cli, _isolated_home: Path):
    r = cli("prices", "import", str(FIXTURES / "skypilot_aws_vms.csv"), "--format", "skypilot")
    assert r.code == 0, r.err
    assert (_isolated_home / "prices.csv").is_file()
    r = cli("prices", "--gpu", "L4", "--provider", "aws", "--format", "json")
    user = [x for x in json.loads(r.out) if x["origin"] == "user"]
    assert {x["instance_type"] for x in user} == {"g6.4xlarge", "g6.8xlarge"}


def test_import_of_malformed_catalog_writes_nothing(cli, tmp_path: Path):
    bad = tmp_path / "vms.csv"
    bad.write_text("InstanceType,vCPUs,Price\nx,1,0.1\n")
    out = tmp_path / "prices.csv"
    r = cli("prices", "import", str(bad), "--format", "skypilot", "--prices-out", str(out))
    assert r.code == 1
    assert "missing column" in r.err and "Traceback" not in r.err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["vms.csv"]


def test_cost_command_json(cli, tmp_path: Path):
    from costlens.store import open_store
    from costlens.store.ingest import insert_run

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    store = open_store(url)
    t0 = datetime(2026, 11, 1, 12, 0, 0)
    insert_run(
        store,
        {
            "id": "abc123def456",
            "started_at": t0,
            "ended_at": t0 + timedelta(hours=2),
            "status": "completed",
            "device_name": "NVIDIA A100-SXM4-80GB",
            "device_count": 8,
            "precision": "bf16",
            "flops": 7.18848e18,
            "provider": "testcloud",
            "instance_type": "tc.8xa100",
        },
    )
    store.dispose()
    r = cli("cost", "abc123", "--db", url, "--prices", str(SMALL), "--format", "json")
    assert r.code == 0, r.err
    c = json.loads(r.out)
    # 1 x tc.8xa100 x $20.00/h x 2 h = $40.00; MFU 0.40 (hand check: tests/price/test_cost.py)
    assert c["cost_usd"] == pytest.approx(40.0)
    assert c["mfu"] == pytest.approx(0.40)
    assert c["energy_kwh"] is None
    assert {a["provider"] for a in c["alternatives"]} >= {"aws", "gcp", "azure", "lambda"}
    r = cli("cost", "abc123", "--db", url, "--prices", str(SMALL), "--instance", "nope")
    assert r.code == 1 and "no price" in r.err and "Traceback" not in r.err
    r = cli("cost", "abc123", "--db", url, "--prices", str(SMALL))
    assert r.code == 0 and "tc.8xa100" in r.out


def test_prices_limit_and_idle_threshold_are_checked(cli, sqlite_url):
    r = cli("prices", "--provider", "aws", "--limit", "3", "--format", "json")
    assert r.code == 0 and len(json.loads(r.out)) == 3
    r = cli("cost", "abc", "--db", sqlite_url, "--idle-threshold", "-5")
    assert r.code == 2 and "--idle-threshold must be at least 0" in r.err
