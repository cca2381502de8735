"""Issue 20: a CPU run in CPU terms and a GPU run in GPU terms in `cost`, `runs` and `show`; the
cost table shows the energy (GPU and host CPU, "estimate" where it is one) and CO2e that its JSON
and notes hold; both MFUs, each named."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from costlens.core.fmt import number
from costlens.store import insert_run, open_store
from costlens.store.queries import utcnow

WIDE = {"COLUMNS": "200"}


@pytest.fixture
def url(sqlite_url: str) -> str:
    store = open_store(sqlite_url)
    now = utcnow()
    insert_run(store, {
        "id": "gpurun0001", "project": "p", "status": "completed", "steps": 100,
        "started_at": now - timedelta(hours=2), "ended_at": now, "provider": "aws",
        "device_name": "NVIDIA A100-SXM4-80GB", "device_count": 8, "flops": 7.18848e18,
        "precision": "bf16", "energy_j": 9e6, "energy_source": "nvml", "region": "us-east-1",
        "cpu_energy_j": 1e6, "cpu_energy_basis": "rapl", "steady_flops": 6e18, "steady_s": 5000.0,
    })  # fmt: skip
    insert_run(store, {
        "id": "cpurun0001", "project": "p", "status": "completed", "host_cpu_count": 8,
        "started_at": now - timedelta(minutes=30), "ended_at": now, "device_count": 0,
        "flops": 1e14, "precision": "fp32", "cpu_energy_j": 3.6e5, "cpu_energy_basis": "estimate",
    })  # fmt: skip
    store.dispose()
    return sqlite_url


def test_cost_of_a_cpu_run_in_cpu_terms_with_its_energy_and_co2e(cli, url):
    res = cli("cost", "cpurun0001", "--db", url, env=WIDE)
    assert res.code == 0, res.err
    out = res.out
    assert "GPU-hour" not in out and "GPU energy" not in out
    assert "0.5 instance-hours (CPU only" in out and "per instance-hour" in out
    # the table said "energy not measured" while the notes said the CPU's was an estimate
    assert "not measured (no energy counter" not in out
    assert "CPU energy    0.1 kWh (estimate" in out and "CO2e " in out and " kg at " in out
    data = json.loads(cli("cost", "cpurun0001", "--db", url, "--format", "json").out)
    assert (data["device_kind"], data["device_hours"], data["gpu_hours"]) == ("cpu", 0.5, None)
    assert f"{number(data['co2e_kg'], 'kg')} at" in out and data["cpu_energy_kwh"] == pytest.approx(
        0.1
    )


def test_cost_of_a_gpu_run_shows_both_energies_and_both_mfus(cli, url):
    out = cli("cost", "gpurun0001", "--db", url, env=WIDE).out
    assert "16 GPU-hours used" in out and "per GPU-hour" in out
    assert "GPU energy    2.5 kWh (nvml)" in out and "CPU energy    0.28 kWh (rapl)" in out
    assert "total         2.78 kWh" in out and "CO2e" in out
    # 6e18 FLOPs / 5000 s / (8 x 312e12) = 48.1%; the whole run: 40.0%
    assert "40.0% whole run; 48.1% steady state (5000 s after the first 5 steps)" in out


def test_runs_and_show_in_cpu_and_gpu_terms(cli, url):
    out = cli("runs", "--db", url, env=WIDE).out
    assert "0.5 inst-h" in out and "16 GPU-h" in out
    shown = cli("show", "cpurun0001", "--db", url, env=WIDE).out
    assert (
        "gpu_hours" not in shown and "device_kind" in shown and "instance" not in shown.lower()[:0]
    )
    data = json.loads(cli("show", "gpurun0001", "--db", url, "--format", "json").out)
    assert (data["gpu_hours"], data["mfu"]) == (16.0, pytest.approx(0.4))
    assert data["mfu_steady_state"] == pytest.approx(6e18 / 5000 / (8 * 312e12))
