"""``costlens.profile`` in-process: the three forms, what a run records, statuses, never harming
the training."""

from __future__ import annotations

import json
import logging
import sys
import uuid

import pytest

import costlens
from costlens.record import DistInfo, dist_info, make_run_id, safety, signals
from costlens.record import run as run_module
from costlens.store.queries import count_samples, get_run, list_runs


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setenv("COSTLENS_FLUSH_INTERVAL_S", "0.2")
    monkeypatch.setenv("COSTLENS_QUIET", "1")


def test_context_manager_records_run_steps_metrics_and_host(store, sqlite_url):
    with costlens.profile(
        project="vision",
        name="resnet-ft",
        strategy="full-finetune",
        base_model="resnet50",
        tags=["a", "b"],
        sample_interval_s=0.05,
        db=sqlite_url,
        provider="aws",
        instance="p4d.24xlarge",
    ) as run:
        for _ in range(7):
            run.step(samples=32, tokens=32 * 128)
        run.log(accuracy=0.91, loss=float("nan"), note="ok")
    rec = get_run(store, run.id)
    assert rec["status"] == "completed"
    assert (rec["project"], rec["name"], rec["strategy"]) == (
        "vision",
        "resnet-ft",
        "full-finetune",
    )
    assert rec["base_model"] == "resnet50" and rec["tags"] == ["a", "b"]
    assert rec["provider"] == "aws" and rec["instance_type"] == "p4d.24xlarge"
    assert rec["steps"] == 7 and rec["samples"] == 224 and rec["tokens"] == 7 * 32 * 128
    assert rec["metrics"] == {"accuracy": 0.91, "loss": None, "note": "ok"}
    assert rec["world_size"] == 1 and rec["host"] and rec["command"]
    assert rec["host_cpu_count"] >= 1 and rec["host_ram_total_bytes"] > 2**20
    assert rec["ended_at"] is not None and rec["heartbeat_at"] is not None
    assert count_samples(store, run.id) >= 1  # host readings (device_index -1)


def test_bare_decorator_and_decorator_with_arguments(store, sqlite_url, monkeypatch):
    monkeypatch.setenv("COSTLENS_DB", sqlite_url)

    @costlens.profile
    def train_a(n):
        return n * 2

    @costlens.profile(project="p2", sample_interval_s=0.05)
    def train_b():
        return "done"

    assert train_a(21) == 42
    assert train_b() == "done"
    assert train_a.__name__ == "train_a"
    runs = {r["name"]: r for r in list_runs(store)}
    assert runs["train_a"]["project"] == "default" and runs["train_a"]["status"] == "completed"
    assert runs["train_b"]["project"] == "p2" and runs["train_b"]["status"] == "completed"


def test_exception_marks_failed_and_is_re_raised_unchanged(store, sqlite_url):
    class Boom(Exception):
        pass

    original = Boom("diverged")
    with pytest.raises(Boom) as info, costlens.profile(db=sqlite_url) as run:
        run.step(samples=8)
        raise original
    assert info.value is original
    rec = get_run(store, run.id)
    assert rec["status"] == "failed" and rec["steps"] == 1 and rec["samples"] == 8


def test_keyboard_interrupt_marks_interrupted(store, sqlite_url):
    @costlens.profile(db=sqlite_url)
    def train():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train()
    (rec,) = list_runs(store)
    assert rec["status"] == "interrupted"


def test_system_exit_codes(store, sqlite_url):
    for code, status in ((0, "completed"), (3, "failed")):
        with pytest.raises(SystemExit), costlens.profile(db=sqlite_url, name=f"exit{code}"):
            sys.exit(code)
        (rec,) = [r for r in list_runs(store) if r["name"] == f"exit{code}"]
        assert rec["status"] == status and rec["exit_code"] == code


def test_internal_error_is_logged_once_and_training_goes_on(sqlite_url, monkeypatch, caplog):
    def broken(*a, **k):
        raise RuntimeError("recorder exploded")

    monkeypatch.setattr(run_module, "Recorder", broken)
    safety._logged.clear()
    with caplog.at_level(logging.WARNING, logger="costlens"):
        for _ in range(2):
            with costlens.profile(db=sqlite_url) as run:
                run.step(samples=1)
                result = "trained"
    assert result == "trained"
    said = [r for r in caplog.records if "recorder exploded" in r.getMessage()]
    assert len(said) == 1


def test_broken_progress_source_never_reaches_training(store, sqlite_url, monkeypatch):
    with costlens.profile(db=sqlite_url, sample_interval_s=0.05) as run:
        monkeypatch.setattr(run, "_progress", lambda: 1 / 0)
        run.step()
    assert get_run(store, run.id)["status"] == "completed"


def test_unknown_strategy_is_recorded_as_other_not_raised(store, sqlite_url):
    with costlens.profile(db=sqlite_url, strategy="magic") as run:
        pass
    assert get_run(store, run.id)["strategy"] == "other"


def test_summary_goes_to_stderr(sqlite_url, monkeypatch, capsys):
    monkeypatch.delenv("COSTLENS_QUIET")
    with costlens.profile(db=sqlite_url) as run:
        run.step()
    err = capsys.readouterr().err
    assert f"run {run.id[:12]} completed" in err
    for word in ("steps 1", "FLOPs", "-hours", "cost ", "energy"):
        assert word in err


class _Dist:
    nodes, world_size = 1, 1


class _Recorder:
    def __init__(self, names: list[str]) -> None:
        self.device_names = names
        self.util_sum, self.util_n = 180.0, 2
        self.energy_j = None
        self.cpu_energy_j, self.cpu_energy_basis = 3.6e5, "estimate"


def test_summary_prints_the_cost_and_a_cpu_run_in_cpu_terms():
    """Issue 20: the summary never printed dollars, and a CPU run read "GPU-hours 0"."""
    from costlens.record.live import HourlyRate
    from costlens.record.summary import summary_text

    rate = HourlyRate(usd_per_hour=0.8, label="aws/c7i.2xlarge us-east-1 on-demand")
    kw = {"run_id": "abc", "status": "completed", "duration_s": 1800.0, "progress": {},
          "dist": _Dist()}  # fmt: skip
    cpu = summary_text(recorder=_Recorder([]), rate=rate, **kw)
    import re

    assert "instance-hours 0.5000 (CPU only" in cpu and "GPU-hours" not in cpu
    assert re.search(r"cost \$0\.40* at \$0\.80* per hour \(aws/c7i\.2xlarge", cpu), cpu
    gpu = summary_text(recorder=_Recorder(["NVIDIA A100", "NVIDIA A100"]), rate=None, **kw)
    assert "GPU-hours 1.0000 (2 x NVIDIA A100)" in gpu and "average GPU utilisation 90%" in gpu
    assert "cost not priced here (`costlens cost abc`" in gpu
    assert "energy GPU not measured; host CPU 0.1000 kWh (estimate)" in gpu
    assert "energy host CPU 0.1000 kWh (estimate)" in cpu


def test_sigterm_handler_is_installed_during_a_run_and_restored_after(sqlite_url):
    import signal

    before = signal.getsignal(signal.SIGTERM)
    with costlens.profile(db=sqlite_url):
        assert signal.getsignal(signal.SIGTERM) is signals._on_sigterm
    assert signal.getsignal(signal.SIGTERM) is before


def test_distributed_identity_from_torchrun_env():
    env = {
        "RANK": "3",
        "WORLD_SIZE": "4",
        "LOCAL_RANK": "1",
        "LOCAL_WORLD_SIZE": "2",
        "GROUP_RANK": "1",
        "TORCHELASTIC_RUN_ID": "job-42",
    }
    d = dist_info(env)
    assert (d.rank, d.world_size, d.local_rank, d.node_rank, d.nodes) == (3, 4, 1, 1, 2)
    other = dist_info({**env, "RANK": "0", "LOCAL_RANK": "0", "GROUP_RANK": "0"})
    assert make_run_id(d) == make_run_id(other)  # every rank of one job: one run
    assert make_run_id(dist_info({**env, "TORCHELASTIC_RUN_ID": "job-43"})) != make_run_id(d)
    uuid.UUID(make_run_id(d))
    assert dist_info({}) == DistInfo() and make_run_id(DistInfo()) != make_run_id(DistInfo())


def test_run_log_values_are_json(store, sqlite_url):
    import numpy as np

    with costlens.profile(db=sqlite_url) as run:
        run.log(acc=np.float32(0.5), per_class=[np.int64(1), 2], cfg={"lr": 0.1})
    rec = get_run(store, run.id)
    assert rec["metrics"] == {"acc": 0.5, "per_class": [1, 2], "cfg": {"lr": 0.1}}
    json.dumps(rec["metrics"])


@pytest.mark.postgres
def test_records_into_postgresql(pg_store, pg_url):
    with costlens.profile(db=pg_url, project="pg", sample_interval_s=0.05) as run:
        for _ in range(3):
            run.step(samples=5)
    rec = get_run(pg_store, run.id)
    assert rec["status"] == "completed" and rec["steps"] == 3 and rec["samples"] == 15
    assert count_samples(pg_store, run.id) >= 1


def test_a_cpu_run_records_host_cpu_energy_with_its_basis(store, sqlite_url):
    """No GPU here: the host CPU's energy is RAPL where readable, else the table's estimate."""
    import time

    from costlens.price.reports import run_detail
    from costlens.price.tables import PriceTable

    with costlens.profile(sample_interval_s=0.05, db=sqlite_url, region="us-east-1") as run:
        t_end = time.monotonic() + 0.6
        while time.monotonic() < t_end:  # keep one CPU busy
            sum(i * i for i in range(1000))
        run.step()
    rec = get_run(store, run.id)
    assert rec["region"] == "us-east-1"
    assert rec["cpu_energy_basis"] in ("rapl", "estimate")
    assert rec["cpu_energy_j"] is not None and rec["cpu_energy_j"] > 0
    detail = run_detail(store, run.id, PriceTable.load())
    assert detail["host_cpu_mean_pct"] is not None and detail["host_cpu_mean_pct"] > 10
    assert detail["host_ram_peak_bytes"] > 2**20
    assert detail["co2e_kg"] is not None and detail["co2e_kg"] > 0


def test_a_known_strategy_in_any_case_is_recorded_as_itself(store, sqlite_url):
    """issue 20: `costlens run --strategy LoRA` recorded lora, profile(strategy="LoRA") other."""
    with costlens.profile(db=sqlite_url, strategy="LoRA") as run:
        pass
    assert get_run(store, run.id)["strategy"] == "lora"


def test_tags_given_as_one_string_are_refused_not_split_into_letters(sqlite_url):
    with pytest.raises(ValueError, match="tags must be a list"):
        costlens.profile(db=sqlite_url, tags="baseline")
