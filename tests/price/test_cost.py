"""cost: the arithmetic on fixture runs, checked against hand-computed values (in comments)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from costlens.core.errors import PriceNotFoundError
from costlens.price import add_cost_columns, cost_breakdown, run_cost, sample_summary
from costlens.price.tables import PriceTable

FIXTURES = Path(__file__).parent.parent / "fixtures"
SMALL = FIXTURES / "prices_small.csv"
RATE_FILE = FIXTURES / "electricity_test.csv"  # $0.10/kWh, "test rate", 2026-01-01


@pytest.fixture(scope="module")
def prices() -> PriceTable:
    """Shipped tables + tests/fixtures/prices_small.csv (provider "testcloud", made-up prices),
    energy at the fixture's $0.10/kWh."""
    return PriceTable.load(SMALL, electricity_file=RATE_FILE)


def record(**kw):
    base = {
        "id": "run-1",
        "device": "NVIDIA A100-SXM4-80GB",
        "device_count": 8,
        "duration_s": 7200.0,
        "flops": 0.0,
        "precision": "bf16",
        "energy_j": None,
        "energy_source": None,
        "provider": "testcloud",
        "instance_type": "tc.8xa100",
        "host_cpu_count": 96,
    }
    base.update(kw)
    return base


def test_declared_instance_on_demand_and_spot(prices):
    # 8 GPUs x 7200 s / 3600 = 16 GPU-hours.
    # Declared tc.8xa100 at $20.00/h for the whole 8-GPU instance: 1 instance x 2 h x 20 = $40.00.
    c = run_cost(record(), prices=prices)
    assert c["gpu_hours"] == pytest.approx(16.0)
    assert c["instances"] == 1
    assert c["cost_usd"] == pytest.approx(40.0)
    assert c["quote"]["instance_type"] == "tc.8xa100"
    assert "declared instance testcloud/tc.8xa100" in c["quote_reason"]
    # Spot: $6.00/h x 2 h = $12.00.
    s = run_cost(record(), prices=prices, spot=True)
    assert s["cost_usd"] == pytest.approx(12.0)
    assert s["quote"]["spot"] is True


def test_more_gpus_than_one_instance_pays_whole_instances(prices):
    # 12 GPUs on 8-GPU instances: ceil(12/8) = 2 instances x $20.00/h x 2 h = $80.00;
    # GPU-hours count the GPUs used: 12 x 2 = 24.
    c = run_cost(record(device_count=12), prices=prices)
    assert c["instances"] == 2
    assert c["cost_usd"] == pytest.approx(80.0)
    assert c["gpu_hours"] == pytest.approx(24.0)


def test_undeclared_instance_uses_cheapest_and_says_why(prices):
    # 1 GPU, no instance: the cheapest 1-GPU A100-80GB-SXM instance per GPU-hour in the table.
    # Hand check: tc.1xa100 at $2.75/h is below every shipped 1-GPU A100-80GB-SXM row
    # (lowest shipped: GCP a2-ultragpu-1g us-central1 at $2.94582/h). 0.5 h x 2.75 = $1.375.
    c = run_cost(
        record(device_count=1, duration_s=1800.0, provider=None, instance_type=None),
        prices=prices,
    )
    assert c["quote"]["instance_type"] == "tc.1xa100"
    assert c["cost_usd"] == pytest.approx(1.375)
    assert c["quote_reason"].startswith("no instance declared: cheapest on-demand")


def test_cpu_run_priced_on_cpu_instances(prices):
    # CPU-only run on an 8-vCPU host for 5400 s = 1.5 instance-hours. The cheapest testcloud CPU
    # instance with >= 8 vCPUs is tc.cpu16 at $0.80/h: 1.5 x 0.80 = $1.20. No peak FLOP/s: MFU None.
    c = run_cost(
        record(device=None, device_count=0, duration_s=5400.0, flops=1e15, precision="fp32",
               instance_type=None, host_cpu_count=8),
        prices=prices,
    )  # fmt: skip
    assert c["cpu_only"] and c["device_key"] == "CPU"
    assert c["gpu_hours"] is None  # no GPU was used: CPU terms (core.hours), not "0 GPU-hours"
    assert (c["device_kind"], c["device_hours"]) == ("cpu", pytest.approx(1.5))
    assert c["instance_hours"] == pytest.approx(1.5)  # what the $1.20 pays for
    assert c["quote"]["instance_type"] == "tc.cpu16"
    assert c["cost_usd"] == pytest.approx(1.20)
    assert c["achieved_flops_per_s"] == pytest.approx(1e15 / 5400)
    assert c["mfu"] is None


def test_mfu_against_the_spec_table(prices):
    # A100-80GB-SXM bf16 dense peak 312 TFLOP/s per GPU (datasheet). 8 GPUs for 7200 s at 40%:
    # flops = 0.4 x 8 x 312e12 x 7200 = 7.18848e18 -> achieved 9.984e14 FLOP/s -> MFU 0.40.
    c = run_cost(record(flops=7.18848e18), prices=prices)
    assert c["achieved_flops_per_s"] == pytest.approx(9.984e14)
    assert c["peak_flops_per_s"] == pytest.approx(8 * 312e12)
    assert c["mfu"] == pytest.approx(0.40)
    # Same FLOPs at fp32 (non-tensor 19.5 TFLOP/s): 9.984e14 / (8 x 19.5e12) = 6.4 (> 1 is
    # possible only because the run really used tensor cores; MFU is honest about the precision).
    c32 = run_cost(record(flops=7.18848e18, precision="fp32"), prices=prices)
    assert c32["mfu"] == pytest.approx(9.984e14 / (8 * 19.5e12))


def test_energy_from_counter_and_its_cost(prices):
    # energy_j = 9.0e6 J = 9.0e6 / 3.6e6 = 2.5 kWh; at $0.10/kWh = $0.25.
    c = run_cost(record(energy_j=9.0e6, energy_source="nvml"), prices=prices)
    assert c["energy_kwh"] == pytest.approx(2.5)
    assert c["energy_cost_usd"] == pytest.approx(0.25)
    assert c["energy_source"] == "nvml"
    assert (c["electricity_source"], c["electricity_as_of"]) == ("test rate", "2026-01-01")


def test_no_energy_is_none_never_zero(prices):
    c = run_cost(record(), prices=prices)
    assert c["energy_kwh"] is None and c["energy_cost_usd"] is None
    assert any("no energy" in n for n in c["notes"])


def test_unknown_device_never_raises_in_add_cost_columns(prices):
    recs = [record(), record(id="run-2", device="Mystery Accelerator 9000")]
    out = add_cost_columns(recs, prices=prices)
    assert out[0]["cost_usd"] == pytest.approx(40.0)
    assert out[1]["cost_usd"] is None and out[1]["mfu"] is None
    assert out[1]["gpu_hours"] == pytest.approx(16.0)  # still a fact: 8 GPUs x 2 h
    assert all(set(("cost_usd", "gpu_hours", "energy_kwh", "mfu")) <= set(r) for r in out)
    c = run_cost(recs[1], prices=prices)
    assert c["cost_usd"] is None
    assert any("unknown accelerator" in n for n in c["notes"])


def test_explicit_unknown_instance_is_an_error(prices):
    with pytest.raises(PriceNotFoundError):
        run_cost(record(), prices=prices, instance="no-such-instance")


def test_a_new_price_table_reprices_an_old_run(prices, tmp_path: Path):
    # Same stored facts, a cheaper negotiated rate: 2 h x $10.00 = $20.00 instead of $40.00.
    mine = tmp_path / "mine.csv"
    mine.write_text(
        SMALL.read_text().replace("testcloud,tc.8xa100,r1,A100-80GB-SXM,8,96,1152,20.00", (
            "testcloud,tc.8xa100,r1,A100-80GB-SXM,8,96,1152,10.00"))
    )  # fmt: skip
    c = run_cost(record(), prices=PriceTable.load(mine))
    assert c["cost_usd"] == pytest.approx(20.0)


def test_alternatives_cover_every_provider_on_demand_and_spot(prices):
    c = run_cost(record(), prices=prices)
    alts = {a["provider"]: a for a in c["alternatives"]}
    assert {"aws", "gcp", "azure", "lambda", "testcloud"} <= set(alts)
    # testcloud 8-GPU instance: $20.00 x 2 h = $40.00; spot $6.00 x 2 h = $12.00
    assert alts["testcloud"]["cost_usd"] == pytest.approx(40.0)
    assert alts["testcloud"]["spot_cost_usd"] == pytest.approx(12.0)
    # AWS p4de.24xlarge us-east-1 at $27.44705/h (shipped table): 2 h -> $54.8941
    assert alts["aws"]["instance_type"] == "p4de.24xlarge"
    assert alts["aws"]["cost_usd"] == pytest.approx(54.8941)
    assert alts["lambda"]["spot_cost_usd"] is None  # Lambda lists no spot prices
    costs = [a["cost_usd"] for a in c["alternatives"] if a["cost_usd"] is not None]
    assert costs == sorted(costs)


# --------------------------------------------------------------------------------------------
# With a real store: the SQL sample summary, idle waste, power-integral energy
# --------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 1, 12, 0, 0)


def _store_run(store, run_id: str, samples: list[tuple], **run) -> None:
    from costlens.store.ingest import insert_run, insert_samples

    values = {
        "id": run_id,
        "started_at": T0,
        "ended_at": T0 + timedelta(seconds=3600),
        "status": "completed",
        "device_name": "NVIDIA A100-SXM4-80GB",
        "device_count": 2,
        "precision": "bf16",
        "provider": "testcloud",
        "instance_type": "tc.8xa100",
    }
    values.update(run)
    insert_run(store, values)
    insert_samples(store, samples)


def _sample(run_id, t, dev, util, power_w, energy_mj=None):
    # SAMPLE_COLUMNS order: run_id, t_unix_s, node_rank, device_index, gpu_util_pct,
    # mem_used_bytes, mem_total_bytes, power_w, energy_mj, sm_clock_mhz, temperature_c,
    # host_cpu_pct, host_ram_bytes
    return (run_id, t, 0, dev, util, None, None, power_w, energy_mj, None, None, None, None)


def _idle_run_samples(run_id: str, with_counter: bool = False) -> list[tuple]:
    rows = []
    for dev in (0, 1):
        for i, (util, power) in enumerate([(0.0, 100.0), (5.0, 200.0), (50.0, 300.0),
                                           (95.0, 400.0)]):  # fmt: skip
            e = (1_000_000 + i * 1_200_000) if with_counter else None
            rows.append(_sample(run_id, 1000.0 + i, dev, util, power, e))
    rows.append(_sample(run_id, 1000.0, -1, None, None))  # a host-only reading: ignored
    return rows


def test_cost_breakdown_idle_waste_and_power_integral(store, prices):
    _store_run(store, "run-idle", _idle_run_samples("run-idle"))
    c = cost_breakdown(store, "run-idle", prices=prices)
    # 2 GPUs on one 8-GPU tc.8xa100 for 1 h: 1 x $20.00 x 1 h = $20.00.
    assert c["cost_usd"] == pytest.approx(20.0)
    # Readings under 10% utilisation: 0 and 5 on each device = 4 of 8 -> idle fraction 0.5,
    # idle waste = 0.5 x $20.00 = $10.00.
    assert c["idle_fraction"] == pytest.approx(0.5)
    assert c["idle_waste_usd"] == pytest.approx(10.0)
    # No energy counter: mean power per device (100+200+300+400)/4 = 250 W; 2 devices x 250 W x
    # 3600 s = 1.8e6 J = 0.5 kWh.
    assert c["energy_kwh"] == pytest.approx(0.5)
    assert c["energy_source"].startswith("samples: mean sampled power")
    assert c["energy_cost_usd"] == pytest.approx(0.05)  # 0.5 kWh x $0.10/kWh


def test_idle_threshold_is_a_bound_parameter(store):
    _store_run(store, "run-thr", _idle_run_samples("run-thr"))
    # Threshold 60%: readings 0, 5, 50 are under it on both devices -> 6 of 8 = 0.75.
    s = sample_summary(store, ["run-thr", "nope"], idle_threshold_pct=60.0)
    assert set(s) == {"run-thr"}
    assert s["run-thr"]["idle_fraction"] == pytest.approx(0.75)
    assert s["run-thr"]["gpu_devices"] == 2


def test_energy_counter_in_samples_beats_power_integral(store, prices):
    _store_run(store, "run-ctr", _idle_run_samples("run-ctr", with_counter=True))
    c = cost_breakdown(store, "run-ctr", prices=prices)
    # Counter per device rises from 1,000,000 to 4,600,000 mJ: 3,600,000 mJ = 3600 J each;
    # 2 devices = 7200 J = 7200 / 3.6e6 = 0.002 kWh.
    assert c["energy_kwh"] == pytest.approx(0.002)
    assert c["energy_source"] == "samples: NVML energy counter increase"


def test_run_energy_counter_beats_samples(store, prices):
    _store_run(store, "run-own", _idle_run_samples("run-own"), energy_j=3.6e6, energy_source="nvml")
    c = cost_breakdown(store, "run-own", prices=prices)
    assert c["energy_kwh"] == pytest.approx(1.0)
    assert c["energy_source"] == "nvml"


def test_sample_summary_on_postgresql(pg_store):
    _store_run(pg_store, "run-pg", _idle_run_samples("run-pg"))
    s = sample_summary(pg_store, ["run-pg"])
    assert s["run-pg"]["idle_fraction"] == pytest.approx(0.5)
    assert s["run-pg"]["power_mean_w_per_device"] == pytest.approx([250.0, 250.0])


def test_host_cpu_energy_adds_to_the_energy_bill_and_the_co2e_of_the_region(prices):
    # 2 kWh of GPU energy + 1 kWh of host CPU energy at $0.10/kWh; aws us-east-1 at 367.8 g/kWh
    out = run_cost(
        record(energy_j=2 * 3.6e6, cpu_energy_j=3.6e6, cpu_energy_basis="rapl",
               provider="aws", region="us-east-1"),
        prices=prices, alternatives=False,
    )  # fmt: skip
    assert out["energy_kwh"] == pytest.approx(2.0) and out["cpu_energy_kwh"] == pytest.approx(1.0)
    assert out["total_energy_kwh"] == pytest.approx(3.0)
    assert out["energy_cost_usd"] == pytest.approx(0.30)
    assert out["carbon_region"] == "aws/us-east-1" and not out["carbon_is_default"]
    assert out["co2e_kg"] == pytest.approx(3.0 * 367.8 / 1000)
    assert not any("estimate" in n for n in out["notes"])


def test_an_estimated_cpu_energy_is_said_and_weighed_at_the_priced_instance_region(prices):
    out = run_cost(
        record(device=None, device_count=0, cpu_energy_j=3.6e5, cpu_energy_basis="estimate",
               provider=None, instance_type=None),
        prices=prices, alternatives=False,
    )  # fmt: skip
    assert out["energy_kwh"] is None and out["total_energy_kwh"] == pytest.approx(0.1)
    assert out["cpu_energy_basis"] == "estimate"
    assert any("estimate" in n for n in out["notes"])
    q = out["quote"]  # no region declared: the grid of the instance the run was priced on
    row = prices.carbon.lookup(q["provider"], q["region"])
    assert out["carbon_g_co2e_per_kwh"] == row.g_co2e_per_kwh
    assert out["co2e_kg"] == pytest.approx(0.1 * row.g_co2e_per_kwh / 1000)


def test_a_run_with_no_price_and_no_region_is_weighed_at_the_default_with_its_source(prices):
    out = run_cost(
        record(device="Mystery Accelerator 9000", energy_j=3.6e6, provider=None,
               instance_type=None),
        prices=prices, alternatives=False,
    )  # fmt: skip
    assert out["quote"] is None and out["carbon_is_default"]
    assert out["co2e_kg"] == pytest.approx(475 / 1000) and "IEA" in out["carbon_source"]
