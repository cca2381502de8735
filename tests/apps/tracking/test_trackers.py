"""MLflow (a real local tracking store, SQLite backend) and W&B (offline mode): costlens logs its
figures into an active run, at the end and as it goes, and ``costlens export`` sends past runs.
The W&B offline file is read back record by record, as W&B itself would sync it."""

from __future__ import annotations

import json
import struct
import sys
import time
from pathlib import Path

import pytest

import costlens
from costlens.record import monitor
from costlens.store.queries import get_run

mlflow = pytest.importorskip("mlflow")


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()


def _train(run, seconds: float) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        run.step(samples=2)
        time.sleep(0.01)


def test_an_active_mlflow_run_gets_the_cost_figures_at_the_end_and_as_it_goes(
    tracking_uri, sqlite_url, store, monkeypatch
):
    monkeypatch.setattr(monitor, "PROGRESS_EVERY_S", 0.3)
    with (
        mlflow.start_run() as active,
        costlens.profile(
            db=sqlite_url, provider="aws", sample_interval_s=0.05, expected_steps=10_000
        ) as run,
    ):
        _train(run, 1.5)
    client = mlflow.tracking.MlflowClient()
    got = client.get_run(active.info.run_id)
    metrics, tags = got.data.metrics, got.data.tags
    rec = get_run(store, run.id)
    assert metrics["costlens.duration_s"] == pytest.approx(rec["duration_s"], rel=1e-6)
    assert metrics["costlens.cost_usd"] > 0 and "costlens.gpu_hours" not in metrics  # a CPU run
    assert metrics["costlens.device_hours"] == pytest.approx(rec["duration_s"] / 3600, rel=1e-6)
    assert metrics["costlens.flops"] == 0.0 and "costlens.mfu" not in metrics  # CPU: no peak
    assert tags["costlens.run_id"] == run.id
    assert tags["costlens.instance"].startswith("aws/") and tags["costlens.pricing"] == "on-demand"
    assert (
        "CPU-only instance" in tags["costlens.cost_basis"] or "aws" in tags["costlens.cost_basis"]
    )
    history = client.get_metric_history(active.info.run_id, "costlens.cost_so_far_usd")
    assert len(history) >= 2, history  # cost so far, logged from costlens's own thread
    values = [m.value for m in sorted(history, key=lambda m: m.step)]
    assert values == sorted(values) and values[-1] <= metrics["costlens.cost_usd"]
    assert client.get_metric_history(active.info.run_id, "costlens.projected_cost_usd")


def test_without_an_active_run_nothing_is_logged_and_mlflow_stays_unimported(tmp_path):
    import subprocess

    from tests.conftest import REPO

    code = (
        "import sys, costlens\n"
        f"with costlens.profile(db='sqlite:///{tmp_path / 'r.db'}', quiet=True) as run:\n"
        "    run.step()\n"
        "print(sorted(m for m in ('mlflow', 'wandb') if m in sys.modules))\n"
    )
    env = {"COSTLENS_HOME": str(tmp_path), "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_export_mlflow_sends_a_past_run(cli, tracking_uri, sqlite_url, store):
    with costlens.profile(db=sqlite_url, project="vision", name="ft-1", quiet=True) as run:
        _train(run, 0.3)
    res = cli("export", "mlflow", run.id[:8], "--db", sqlite_url, "--format", "json")
    assert res.code == 0, res.err
    out = json.loads(res.out)
    client = mlflow.tracking.MlflowClient(tracking_uri)
    got = client.get_run(out["tracker_run_id"])
    assert got.info.run_name == "ft-1" and got.info.status == "FINISHED"
    assert client.get_experiment(got.info.experiment_id).name == "vision"
    assert got.data.metrics["costlens.cost_usd"] == pytest.approx(out["cost_usd"])
    rec = get_run(store, run.id)
    assert got.data.metrics["costlens.duration_s"] == pytest.approx(rec["duration_s"])
    assert got.data.tags["costlens.run_id"] == run.id
    again = cli("export", "mlflow", run.id, "--db", sqlite_url, "--mlflow-run-id",
                out["tracker_run_id"])  # fmt: skip
    assert again.code == 0 and out["tracker_run_id"] in again.out
    missing = cli("export", "mlflow", "nope", "--db", sqlite_url)
    assert missing.code != 0 and "Traceback" not in missing.err


# --------------------------------------------------------------------------------- W&B offline


def wandb_records(run_file: Path) -> list:
    """The records of a W&B offline run file (LevelDB log blocks of W&B protobuf records)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = run_file.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, out, buf = 7, 32768, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:
            out.append(chunk)
        elif kind == 2:
            buf = chunk
        elif kind == 3:
            buf += chunk
        elif kind == 4:
            out.append(buf + chunk)
        else:
            break
    records = []
    for raw in out:
        rec = pb.Record()
        rec.ParseFromString(raw)
        records.append(rec)
    return records


def wandb_logged(wandb_dir: Path, expect: str, timeout_s: float = 60.0) -> tuple[dict, dict]:
    """(summary, config) updates in the newest offline run under ``wandb_dir``, once its summary
    holds ``expect`` (W&B's core process writes the file a little after ``finish()`` returns)."""
    deadline = time.monotonic() + timeout_s
    while True:
        summary, config = _wandb_updates(wandb_dir)
        if expect in summary or time.monotonic() > deadline:
            return summary, config
        time.sleep(0.2)


def _wandb_updates(wandb_dir: Path) -> tuple[dict, dict]:
    files = sorted(wandb_dir.glob("wandb/offline-run-*/run-*.wandb"))
    summary: dict = {}
    config: dict = {}
    if not files:
        return summary, config
    run_file = files[-1]
    for rec in wandb_records(run_file):
        kind = rec.WhichOneof("record_type")
        if kind in ("summary", "config"):
            target = summary if kind == "summary" else config
            for item in getattr(rec, kind).update:
                target[item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
    return summary, config


@pytest.fixture
def wandb_offline(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    yield wandb
    if wandb.run is not None:
        wandb.run.finish()


def test_an_active_wandb_run_gets_the_figures_in_its_summary(
    wandb_offline, tmp_path, sqlite_url, store, monkeypatch
):
    monkeypatch.setattr(monitor, "PROGRESS_EVERY_S", 0.3)
    wb = wandb_offline.init(project="costlens-test", name="tiny")
    with costlens.profile(db=sqlite_url, provider="aws", sample_interval_s=0.05) as run:
        _train(run, 1.0)
    wb.finish()
    summary, config = wandb_logged(tmp_path, "costlens/duration_s")
    rec = get_run(store, run.id)
    assert summary["costlens/duration_s"] == pytest.approx(rec["duration_s"])
    assert summary["costlens/cost_usd"] > 0 and "costlens/gpu_hours" not in summary  # CPU terms
    assert summary["costlens/device_hours"] > 0
    assert 0 < summary["costlens/cost_so_far_usd"] <= summary["costlens/cost_usd"]
    assert config["costlens/run_id"] == run.id and config["costlens/instance"].startswith("aws/")


def test_export_wandb_sends_a_past_run_offline(cli_subprocess, tmp_path, sqlite_url, monkeypatch):
    """In a process of its own, as a user runs it (W&B keeps its settings per process)."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    with costlens.profile(db=sqlite_url, project="vision", name="ft-2", quiet=True) as run:
        _train(run, 0.3)
    res = cli_subprocess("export", "wandb", run.id, "--db", sqlite_url, "--format", "json")
    assert res.code == 0, res.err
    summary, config = wandb_logged(tmp_path, "costlens/cost_usd")
    assert summary["costlens/cost_usd"] == pytest.approx(json.loads(res.out)["cost_usd"])
    assert config["costlens/run_id"] == run.id
