"""Issue 22: the run's own share of the machine. A run restricted to one GPU of eight (by index,
by GPU UUID, by MIG UUID) records and prices one device; a MIG 1g slice of an A100 costs a seventh
of the GPU's hour and its MFU is on a seventh of the GPU's peak.

The stand-in answers as NVML does on MIG (NVML reference, nvmlDeviceGetName: "When used with MIG
device handles the API returns MIG device names"; nvmlDeviceGetUtilizationRates: "On MIG-enabled
GPUs, querying device utilization rates is not currently supported"): a MIG handle has no index
(INVALID_ARGUMENT), its parent through nvmlDeviceGetDeviceHandleFromMigDeviceHandle, its own
memory, and refuses utilisation, power and energy (NOT_SUPPORTED); the parent in MIG mode refuses
utilisation too.
"""

from __future__ import annotations

import time

import pynvml
import pytest

from costlens.price import run_cost
from costlens.price.tables import PriceTable
from costlens.record.recorder import Recorder, utcnow
from costlens.record.telemetry import NvmlSampler, visible_device_ids
from costlens.record.telemetry.nvml import container_device_ids, mig_profile_of
from costlens.store import open_store
from costlens.store.queries import get_run
from tests.record.telemetry.test_nvml import _err, fake_nvml, h100

A100 = "NVIDIA A100-SXM4-40GB"
MIG_UUID = "MIG-5c89e0a6-3d2f-5a1b-9c44-0f1e2d3c4b5a"
NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED


def eight_a100s_one_in_mig_mode() -> list[dict]:
    """GPUs 0-7; GPU 3 in MIG mode with one 1g.5gb slice (a MIG handle)."""
    gpus = [h100(f"h{i}", i, name=A100, uuid=f"GPU-h{i}") for i in range(8)]
    gpus[3]["util"] = _err(NOT_SUPPORTED)
    mig = h100(
        "m3", index=_err(pynvml.NVML_ERROR_INVALID_ARGUMENT), uuid=MIG_UUID, mig=True,
        parent="h3", name=f"{A100} MIG 1g.5gb", util=_err(NOT_SUPPORTED),
        power_mw=_err(NOT_SUPPORTED), energy_mj=_err(NOT_SUPPORTED), clock=_err(NOT_SUPPORTED),
        temp=_err(NOT_SUPPORTED),
    )  # fmt: skip
    return [*gpus, mig]


@pytest.mark.parametrize(
    ("visible", "index"), [("5", 5), ("GPU-h5", 5), (MIG_UUID, 3)], ids=["index", "uuid", "mig"]
)
def test_one_gpu_of_eight_is_sampled(visible, index):
    s = NvmlSampler(
        nvml=fake_nvml(eight_a100s_one_in_mig_mode()), visible=visible_device_ids(visible)
    )
    readings = s.sample(0.0)
    assert [r.device_index for r in readings] == [index]
    assert s.device_names() == [A100]
    assert s.mig_profile() == ("1g.5gb" if visible.startswith("MIG-") else None)


def test_nvidia_visible_devices_of_the_container_runtime(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    for value, want in [("all", None), ("void", None), ("", None), ("none", []),
                        ("0,1", None), ("GPU-h5", ["GPU-h5"]), (MIG_UUID, [MIG_UUID])]:  # fmt: skip
        monkeypatch.setenv("NVIDIA_VISIBLE_DEVICES", value)
        assert container_device_ids() == want, value
        assert visible_device_ids() == want, value
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")  # CUDA's own list wins
    assert visible_device_ids() == ["2"]


def test_mig_profile_from_the_mig_device_name():
    assert mig_profile_of(f"{A100} MIG 1g.5gb") == "1g.5gb"
    assert mig_profile_of("NVIDIA H100 80GB HBM3 MIG 1g.10gb+me") == "1g.10gb+me"
    assert mig_profile_of(A100) is None


def _record_one_run(sqlite_url: str, visible: str) -> dict:
    nv = fake_nvml(eight_a100s_one_in_mig_mode())
    rec = Recorder(
        run_values={
            "id": f"share-{visible[:12]}",
            "started_at": utcnow(),
            "status": "running",
            "precision": "bf16",
        },
        db=sqlite_url,
        sample_interval_s=0.05,
        make_samplers=lambda: [NvmlSampler(nvml=nv, visible=visible_device_ids(visible))],
        flush_every_s=0.1,
    )
    rec.start()
    time.sleep(0.3)
    assert rec.finish({"status": "completed", "ended_at": utcnow()}, timeout_s=10)
    with open_store(sqlite_url) as store:
        return dict(get_run(store, rec.run_id))


@pytest.mark.parametrize("visible", ["5", "GPU-h5", MIG_UUID], ids=["index", "uuid", "mig"])
def test_a_run_on_one_gpu_of_eight_records_and_prices_one_device(visible, sqlite_url):
    record = _record_one_run(sqlite_url, visible)
    assert record["device"] == A100 and record["device_count"] == 1
    prices = PriceTable.load()
    hour = {**record, "duration_s": 3600.0, "flops": 312e12 * 3600 * 0.1}  # 10% of a GPU's peak
    cost = run_cost(hour, prices=prices, alternatives=False)
    assert cost["device_count"] == 1
    if visible != MIG_UUID:
        assert record["mig_profile"] is None and cost["gpu_hours"] == pytest.approx(1.0)
        assert cost["mfu"] == pytest.approx(0.1)
        return
    # a MIG 1g slice of an A100: a seventh of the GPU's hour, and MFU on a seventh of its peak
    assert record["mig_profile"] == "1g.5gb" and record["energy_j"] is None
    assert (
        cost["gpu_share"] == pytest.approx(1 / 7)
        and "Multi-Instance GPU User Guide" in cost["gpu_share_source"]
    )
    assert cost["gpu_hours"] == pytest.approx(1 / 7)
    assert cost["cost_usd"] == pytest.approx(cost["quote"]["usd_per_gpu_hour"] / 7)
    assert cost["mfu"] == pytest.approx(0.7)
    assert cost["instances"] is None


def test_a_mig_profile_the_table_does_not_list_is_not_priced(sqlite_url):
    record = {
        **_record_one_run(sqlite_url, MIG_UUID),
        "duration_s": 3600.0,
        "mig_profile": "9g.1tb",
    }
    cost = run_cost(record, prices=PriceTable.load(), alternatives=False)
    assert cost["cost_usd"] is None and cost["gpu_hours"] is None
    assert any("9g.1tb" in n and "mig_profiles.csv" in n for n in cost["notes"])
