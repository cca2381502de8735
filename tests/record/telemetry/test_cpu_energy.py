"""Host CPU energy: RAPL counters (a sysfs tree built in tmp), the TDP table and the estimate."""

from __future__ import annotations

import csv
import datetime as dt
import math

import pytest

from costlens.core.paths import data_dir
from costlens.record.telemetry.cpu_energy import (
    BASIS_ESTIMATE,
    BASIS_RAPL,
    CpuEnergyMeter,
    RaplCounter,
    cpu_power,
)


def _package(root, name, energy_uj, wrap_uj=262143328850):
    d = root / name
    d.mkdir(parents=True)
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    (d / "max_energy_range_uj").write_text(f"{wrap_uj}\n")
    return d


def test_rapl_sums_packages_skips_subdomains_and_survives_a_wrap(tmp_path):
    p0 = _package(tmp_path, "intel-rapl:0", 1_000_000, wrap_uj=10_000_000)
    p1 = _package(tmp_path, "intel-rapl:1", 5_000_000)
    _package(tmp_path, "intel-rapl:0:0", 0)  # a core sub-domain of package 0: not added again
    rapl = RaplCounter(tmp_path)
    assert rapl.available
    (p0 / "energy_uj").write_text("3000000")  # +2 J
    (p1 / "energy_uj").write_text("6500000")  # +1.5 J
    assert rapl.read() == pytest.approx(3.5)
    (p0 / "energy_uj").write_text("500000")  # wrapped at 10 J: +7 J +0.5 J
    assert rapl.read() == pytest.approx(11.0)


def test_rapl_unreadable_or_absent_is_not_available(tmp_path):
    assert not RaplCounter(tmp_path / "missing").available
    d = _package(tmp_path, "intel-rapl:0", 1)
    (d / "energy_uj").write_text("not a number")
    assert not RaplCounter(tmp_path).available


def test_the_meter_prefers_rapl(tmp_path):
    d = _package(tmp_path, "intel-rapl:0", 0)
    meter = CpuEnergyMeter(rapl_root=tmp_path)
    assert meter.basis == BASIS_RAPL
    (d / "energy_uj").write_text("2500000")
    meter.update(1.0, 50.0)
    assert meter.energy() == (pytest.approx(2.5), BASIS_RAPL)


def test_a_listed_cpu_gets_its_tdp_times_sockets():
    p = cpu_power("Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", logical_cpus=160, sockets=2)
    assert p.package_w == 540.0 and "ARK" in p.source
    assert cpu_power("AMD EPYC 7742 64-Core Processor", 256).package_w == 225.0


def test_a_similar_but_different_model_is_not_taken_for_a_listed_one():
    # 8380H is another part: the default row (4 W per logical CPU), not the 8380's 270 W
    p = cpu_power("Intel(R) Xeon(R) Platinum 8380H CPU @ 2.90GHz", logical_cpus=8)
    assert p.package_w == 32.0 and "CodeCarbon" in p.source


def test_the_estimate_integrates_the_process_share_of_the_package(tmp_path, monkeypatch):
    table = tmp_path / "cpu.csv"
    table.write_text(
        "cpu_model,tdp_w,w_per_thread,source,as_of,note\ndefault,,10,test source,2026-01-01,\n"
    )
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    meter = CpuEnergyMeter(rapl_root=tmp_path / "none", table=table)
    assert meter.basis == BASIS_ESTIMATE
    meter.update(100.0, None)  # the first sample starts the clock
    meter.update(110.0, 200.0)  # 2 of 4 logical CPUs busy for 10 s of a 40 W package: 200 J
    meter.update(115.0, 0.0)  # idle: nothing
    assert meter.energy() == (pytest.approx(200.0), BASIS_ESTIMATE)


def test_no_usable_table_means_no_estimate_and_says_why(tmp_path):
    table = tmp_path / "cpu.csv"
    table.write_text("cpu_model,tdp_w,w_per_thread,source,as_of,note\n")
    meter = CpuEnergyMeter(rapl_root=tmp_path / "none", table=table)
    meter.update(1.0, 100.0)
    assert meter.energy() == (None, None) and "default" in (meter.problem or "")


def test_the_shipped_cpu_power_table_is_sourced_dated_and_has_one_default():
    with open(data_dir() / "cpu_power.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 5
    defaults = [r for r in rows if r["cpu_model"] == "default"]
    assert len(defaults) == 1 and float(defaults[0]["w_per_thread"]) > 0
    for r in rows:
        assert r["source"].strip(), r
        dt.date.fromisoformat(r["as_of"])
        if r["cpu_model"] != "default":
            assert math.isfinite(float(r["tdp_w"])) and float(r["tdp_w"]) > 0
