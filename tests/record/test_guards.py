"""The spend guard and the idle guard on real runs: CPU runs priced on the CPU instance table,
and an idle H100 from the NVML stand-in. A guard stops the training the way a SIGTERM does; the
run is saved as ``stopped`` with its reason and the process exits with STOPPED_EXIT_CODE."""

from __future__ import annotations

import functools
import itertools
import sys
import textwrap
import time
from types import SimpleNamespace

import pytest

import costlens
from costlens.apps.tracking.rate import hourly_rate
from costlens.core.vocab import STOPPED_EXIT_CODE
from costlens.record.telemetry import host_facts
from costlens.store.queries import get_run, list_runs
from tests.record.telemetry.test_nvml import fake_nvml, h100

LOOP_LIMIT_S = 30.0  # a guard that does not fire fails the test instead of hanging it


def _train_until_stopped(run, step_s: float = 0.01) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < LOOP_LIMIT_S:
        run.step(samples=4)
        time.sleep(step_s)
    return time.monotonic() - t0


def _cpu_rate_usd_per_hour() -> float:
    facts = {"device": None, "device_count": 0, "provider": "aws", **host_facts()}
    rate = hourly_rate(facts)
    assert rate is not None and rate.usd_per_hour > 0 and "aws/" in rate.label
    return rate.usd_per_hour


def test_max_usd_warns_at_80_percent_then_stops_the_training(store, sqlite_url, capsys):
    usd_per_s = _cpu_rate_usd_per_hour() / 3600.0
    limit = usd_per_s * 2.5  # 80% after 2 s, 100% after 2.5 s of the run
    finally_ran = []
    with (
        pytest.raises(SystemExit) as stopped,
        costlens.profile(
            db=sqlite_url, provider="aws", max_usd=limit, sample_interval_s=0.05
        ) as run,
    ):
        try:
            _train_until_stopped(run)
        finally:
            finally_ran.append(True)  # stopped gracefully: the training's cleanup runs
    assert stopped.value.code == STOPPED_EXIT_CODE
    assert finally_ran == [True]
    err = capsys.readouterr().err
    assert "warning" in err and "of --max-usd" in err
    assert err.index("of --max-usd") < err.index("reached the limit")
    rec = get_run(store, run.id)
    assert rec["status"] == "stopped" and rec["exit_code"] == STOPPED_EXIT_CODE
    assert rec["stop_reason"].startswith("max_usd: ") and "reached the limit" in rec["stop_reason"]
    assert 2.0 <= rec["duration_s"] < 10.0
    assert rec["steps"] > 10  # what was measured is kept


def test_a_tiny_max_usd_stops_a_cpu_run_at_once_and_keeps_it(store, sqlite_url):
    profiled = costlens.profile(db=sqlite_url, max_usd=1e-6, sample_interval_s=0.05)
    with pytest.raises(SystemExit), profiled as run:
        _train_until_stopped(run)
    rec = get_run(store, run.id)
    assert rec["status"] == "stopped" and rec["duration_s"] < 10.0
    assert rec["stop_reason"].startswith("max_usd")


@pytest.fixture
def idle_h100(monkeypatch):
    """One H100 at 0% utilisation, through the NVML stand-in."""
    counter = functools.partial(next, itertools.count(0, 10_000))
    dev = h100(util=SimpleNamespace(gpu=0, memory=0), energy_mj=counter)
    monkeypatch.setattr("costlens.record.telemetry.nvml.probe_nvml", lambda: fake_nvml([dev]))
    return dev


def test_stop_when_idle_warns_then_stops_a_run_whose_gpus_sit_idle(
    store, sqlite_url, idle_h100, capsys
):
    with (
        pytest.raises(SystemExit) as stopped,
        costlens.profile(db=sqlite_url, stop_when_idle_min=0.02, sample_interval_s=0.05) as run,
    ):  # 1.2 s idle
        _train_until_stopped(run)
    assert stopped.value.code == STOPPED_EXIT_CODE
    err = capsys.readouterr().err
    assert "every GPU idle" in err and "stopping the training" in err
    rec = get_run(store, run.id)
    assert rec["device"] == "NVIDIA H100 80GB HBM3" and rec["status"] == "stopped"
    assert rec["stop_reason"].startswith("stop_when_idle: every GPU below 10%")
    assert 1.2 <= rec["duration_s"] < 10.0


def test_a_busy_gpu_is_never_stopped_for_idleness(store, sqlite_url, monkeypatch):
    counter = functools.partial(next, itertools.count(0, 10_000))
    busy = h100(energy_mj=counter)  # 87% utilisation
    monkeypatch.setattr("costlens.record.telemetry.nvml.probe_nvml", lambda: fake_nvml([busy]))
    with costlens.profile(db=sqlite_url, stop_when_idle_min=0.01, sample_interval_s=0.05) as run:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.5:  # 2.5x the idle limit
            run.step()
            time.sleep(0.01)
    assert get_run(store, run.id)["status"] == "completed"


SCRIPT = """
    import sys, time
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 30:
            time.sleep(0.01)
    finally:
        print("cleanup ran", file=sys.stderr)
"""


def test_costlens_run_max_usd_stops_a_script_with_exit_code_3(
    cli_subprocess, tmp_path, store, sqlite_url
):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    res = cli_subprocess(
        "run", "--max-usd", "1e-6", "--sample-interval-s", "0.05", "--db", sqlite_url, "--",
        sys.executable, str(script), timeout=60,
    )  # fmt: skip
    assert res.code == STOPPED_EXIT_CODE, res.err
    assert "reached the limit" in res.err and "cleanup ran" in res.err
    (rec,) = list_runs(store)
    assert rec["status"] == "stopped" and rec["exit_code"] == STOPPED_EXIT_CODE
    assert rec["stop_reason"].startswith("max_usd") and rec["duration_s"] < 20


def test_costlens_run_max_usd_stops_any_command(cli_subprocess, store, sqlite_url):
    res = cli_subprocess(
        "run", "--max-usd", "1e-6", "--sample-interval-s", "0.05", "--db", sqlite_url, "--",
        "sleep", "30", timeout=60,
    )  # fmt: skip
    assert res.code == STOPPED_EXIT_CODE, res.err
    (rec,) = list_runs(store)
    assert rec["status"] == "stopped" and rec["stop_reason"].startswith("max_usd")
    assert rec["duration_s"] < 20


@pytest.mark.parametrize(
    "flag, value", [("--max-usd", "-1"), ("--max-usd", "0"), ("--max-usd", "lots"),
                    ("--stop-when-idle", "0"), ("--expected-steps", "1.5")]
)  # fmt: skip
def test_bad_guard_values_are_usage_errors(cli, flag, value):
    res = cli("run", flag, value, "--", "true")
    assert res.code == 2, res.err
    assert flag in res.err and "Traceback" not in res.err


def test_bad_limits_in_profile_fail_before_training():
    with pytest.raises(ValueError, match="max_usd must be a positive number"):
        costlens.profile(max_usd=-1)
    with pytest.raises(ValueError, match="expected_steps"):
        costlens.profile(expected_steps=0)
