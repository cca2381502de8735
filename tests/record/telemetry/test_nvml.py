"""The NVML sampler, exercised through an autospec of the real ``pynvml`` module."""

from __future__ import annotations

import logging
import os
import sys
from types import SimpleNamespace
from unittest import mock

import pynvml
import pytest

from costlens.record import telemetry
from costlens.record.telemetry import (
    ENERGY_COUNTER,
    ENERGY_POWER_INTEGRAL,
    NvmlSampler,
    visible_device_ids,
)


def _err(code: int) -> pynvml.NVMLError:
    return pynvml.NVMLError(code)


def fake_nvml(devices: list[dict], *, init_error: int | None = None) -> mock.MagicMock:
    """An autospec of pynvml whose devices behave as described by ``devices`` (dicts)."""
    nv = mock.create_autospec(pynvml, instance=False)
    # Exception classes and constants must stay real (autospec turns them into mocks).
    for name in dir(pynvml):
        if name.startswith("NVMLError") or name.startswith("NVML_"):
            setattr(nv, name, getattr(pynvml, name))
    if init_error is not None:
        nv.nvmlInit.side_effect = _err(init_error)
    by_handle = {d["handle"]: d for d in devices}

    def field(key):
        def get(handle, *_):
            d = by_handle[handle]
            value = d.get(key)
            if isinstance(value, Exception):
                raise value
            if callable(value):
                return value()
            if value is None:
                raise _err(pynvml.NVML_ERROR_NOT_SUPPORTED)
            return value

        return get

    physical = [d for d in devices if not d.get("mig")]
    nv.nvmlDeviceGetCount.return_value = len(physical)
    nv.nvmlDeviceGetHandleByIndex.side_effect = lambda i: physical[i]["handle"]

    def by_uuid(uuid):
        for d in devices:
            if d.get("uuid") == uuid:
                return d["handle"]
        raise _err(pynvml.NVML_ERROR_NOT_FOUND)

    nv.nvmlDeviceGetHandleByUUID.side_effect = by_uuid
    nv.nvmlDeviceGetIndex.side_effect = field("index")
    nv.nvmlDeviceGetDeviceHandleFromMigDeviceHandle.side_effect = field("parent")
    nv.nvmlDeviceIsMigDeviceHandle.side_effect = lambda h: int(bool(by_handle[h].get("mig")))
    nv.nvmlDeviceGetName.side_effect = field("name")
    nv.nvmlDeviceGetUtilizationRates.side_effect = field("util")
    nv.nvmlDeviceGetMemoryInfo.side_effect = field("mem")
    nv.nvmlDeviceGetPowerUsage.side_effect = field("power_mw")
    nv.nvmlDeviceGetClockInfo.side_effect = field("clock")
    nv.nvmlDeviceGetTemperature.side_effect = field("temp")
    nv.nvmlDeviceGetTotalEnergyConsumption.side_effect = field("energy_mj")
    return nv


def _counter(values):
    it = iter(values)
    return lambda: next(it)


def h100(handle="h0", index=0, **kw):
    d = {
        "handle": handle,
        "index": index,
        "uuid": f"GPU-{handle}",
        "name": "NVIDIA H100 80GB HBM3",
        "util": SimpleNamespace(gpu=87, memory=40),
        "mem": SimpleNamespace(used=40 * 2**30, total=80 * 2**30, free=40 * 2**30),
        "power_mw": 350_000,
        "clock": 1980,
        "temp": 61,
        "energy_mj": _counter([1_000_000, 1_700_000, 2_400_000]),
    }
    d.update(kw)
    return d


def t4_without_counter(handle="h1", index=1):
    return h100(
        handle,
        index,
        name="Tesla T4",
        power_mw=_counter([60_000, 70_000, 80_000]),
        energy_mj=_err(pynvml.NVML_ERROR_NOT_SUPPORTED),
    )


def test_reads_every_field_and_energy_from_the_counter():
    nv = fake_nvml([h100()])
    s = NvmlSampler(nvml=nv, visible=None)
    assert s.device_names() == ["NVIDIA H100 80GB HBM3"]
    (r0,) = s.sample(100.0)
    assert r0.device_index == 0
    assert r0.gpu_util_pct == 87
    assert r0.mem_used_bytes == 40 * 2**30 and r0.mem_total_bytes == 80 * 2**30
    assert r0.power_w == pytest.approx(350.0)
    assert r0.sm_clock_mhz == 1980 and r0.temperature_c == 61
    assert r0.energy_mj == 0  # energy since the run started, not the driver's raw counter
    s.sample(101.0)
    (r2,) = s.sample(102.0)
    assert r2.energy_mj == 1_400_000
    assert s.energy() == (pytest.approx(1400.0), ENERGY_COUNTER)
    nv.nvmlDeviceGetClockInfo.assert_called_with("h0", pynvml.NVML_CLOCK_SM)


def test_device_without_counter_integrates_power_never_zero_joules():
    nv = fake_nvml([t4_without_counter(handle="h0", index=0)])
    s = NvmlSampler(nvml=nv, visible=None)
    (r0,) = s.sample(10.0)
    assert r0.energy_mj == 0 and r0.power_w == pytest.approx(60.0)
    s.sample(12.0)  # 2 s at (60 + 70) / 2 W = 130 J
    (r2,) = s.sample(13.0)  # + 1 s at 75 W
    assert r2.energy_mj == 205_000
    assert s.energy() == (pytest.approx(205.0), ENERGY_POWER_INTEGRAL)


def test_no_counter_and_no_power_is_unknown_not_zero():
    dev = h100(power_mw=None, energy_mj=_err(pynvml.NVML_ERROR_NOT_SUPPORTED))
    s = NvmlSampler(nvml=fake_nvml([dev]), visible=None)
    (r,) = s.sample(1.0)
    s.sample(2.0)
    assert r.energy_mj is None and r.power_w is None
    assert s.energy() == (None, None)


def test_mixed_devices_sum_energy_and_name_both_sources():
    s = NvmlSampler(nvml=fake_nvml([h100(), t4_without_counter()]), visible=None)
    for t in (0.0, 1.0, 2.0):
        s.sample(t)
    joules, source = s.energy()
    assert joules == pytest.approx(1400.0 + 65.0 + 75.0)
    assert source == f"{ENERGY_COUNTER}+{ENERGY_POWER_INTEGRAL}"


def test_a_device_refusing_one_query_gives_none_for_that_field_only(caplog):
    dev = h100(temp=_err(pynvml.NVML_ERROR_NO_PERMISSION), util=_err(pynvml.NVML_ERROR_UNKNOWN))
    s = NvmlSampler(nvml=fake_nvml([dev]), visible=None)
    with caplog.at_level(logging.DEBUG, logger="costlens"):
        readings = [s.sample(float(t))[0] for t in range(3)]
    assert all(r.temperature_c is None and r.gpu_util_pct is None for r in readings)
    assert all(r.power_w == pytest.approx(350.0) for r in readings)
    assert readings[-1].energy_mj == 1_400_000
    refusals = [r for r in caplog.records if "refuses temperature" in r.getMessage()]
    assert len(refusals) == 1  # said once, not every sample


def test_cuda_visible_devices_by_index_and_uuid():
    devs = [h100("h0", 0), h100("h1", 1), h100("h2", 2)]
    s = NvmlSampler(nvml=fake_nvml(devs), visible=visible_device_ids("2,0"))
    assert [r.device_index for r in s.sample(0.0)] == [2, 0]
    s = NvmlSampler(nvml=fake_nvml(devs), visible=visible_device_ids("GPU-h1"))
    assert [r.device_index for r in s.sample(0.0)] == [1]
    s = NvmlSampler(nvml=fake_nvml(devs), visible=visible_device_ids(""))
    assert not s.available and s.sample(0.0) == []
    s = NvmlSampler(nvml=fake_nvml(devs), visible=visible_device_ids("7"))  # no such GPU
    assert not s.available


def test_visible_device_parsing_stops_at_the_first_invalid_entry():
    assert visible_device_ids("0,1") == ["0", "1"]
    assert visible_device_ids("1,bogus,0") == ["1"]
    assert visible_device_ids("-1") == []
    assert visible_device_ids("MIG-abc,GPU-def") == ["MIG-abc", "GPU-def"]
    with mock.patch.dict(os.environ, {}, clear=True):
        assert visible_device_ids() is None


def test_mig_instance_does_not_crash_and_reports_its_parent():
    parent = h100("h0", 0)
    mig = h100(
        "m0",
        index=_err(pynvml.NVML_ERROR_INVALID_ARGUMENT),
        uuid="MIG-1234",
        mig=True,
        parent="h0",
        name="NVIDIA H100 80GB HBM3 MIG 1g.10gb",
        util=_err(pynvml.NVML_ERROR_NOT_SUPPORTED),
        power_mw=_err(pynvml.NVML_ERROR_NOT_SUPPORTED),
        energy_mj=_err(pynvml.NVML_ERROR_NOT_SUPPORTED),
    )
    s = NvmlSampler(nvml=fake_nvml([parent, mig]), visible=visible_device_ids("MIG-1234"))
    (r,) = s.sample(0.0)
    s.sample(1.0)
    assert r.device_index == 0
    assert r.gpu_util_pct is None and r.power_w is None and r.energy_mj is None
    assert r.mem_used_bytes == 40 * 2**30
    assert s.energy() == (None, None)  # the slice's share of the GPU's energy: unknown, not 0
    assert s.device_names() == ["NVIDIA H100 80GB HBM3"]  # the parent's: the tables know it
    assert s.mig_profile() == "1g.10gb"


def test_no_driver_is_probed_once_and_said_once_at_info(caplog):
    nv = fake_nvml([], init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    telemetry.probe_nvml.cache_clear()
    try:
        with (
            mock.patch.dict(sys.modules, {"pynvml": nv}),
            caplog.at_level(logging.INFO, logger="costlens"),
        ):
            assert telemetry.probe_nvml() is None
            assert not NvmlSampler().available
            assert NvmlSampler().sample(0.0) == []
        assert nv.nvmlInit.call_count == 1
        said = [r for r in caplog.records if "GPU telemetry is off" in r.getMessage()]
        assert len(said) == 1 and said[0].levelno == logging.INFO
    finally:
        telemetry.probe_nvml.cache_clear()


def test_driver_present_probe_returns_the_module():
    nv = fake_nvml([h100()])
    telemetry.probe_nvml.cache_clear()
    try:
        with mock.patch.dict(sys.modules, {"pynvml": nv}):
            assert telemetry.probe_nvml() is nv
            assert NvmlSampler(visible=None).device_names() == ["NVIDIA H100 80GB HBM3"]
    finally:
        telemetry.probe_nvml.cache_clear()
