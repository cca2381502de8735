"""The real thing: Debian's Prometheus scrapes a CPU run under `costlens run --metrics-port` and
`costlens exporter` on 127.0.0.1, and its HTTP API gives the series back; `promtool check rules`
passes on the shipped rules. Everything listens on 127.0.0.1 only."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from costlens.store import insert_run
from costlens.store.queries import utcnow
from tests.conftest import REPO, missing
from tests.record.test_metrics import free_port

pytestmark = pytest.mark.slow
RULES = REPO / "docs" / "prometheus" / "costlens-rules.yml"

SCRIPT = """
import pathlib, sys, time, torch
stop = pathlib.Path(sys.argv[1])
m = torch.nn.Linear(32, 32)
t0 = time.time()
while not stop.exists() and time.time() - t0 < 120:
    m(torch.randn(8, 32)).sum().backward()
    time.sleep(0.02)
"""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed (apt-get install prometheus; .ci/setup --dev does it)")
    return str(path)


def test_promtool_accepts_the_shipped_rules():
    proc = subprocess.run([_tool("promtool"), "check", "rules", str(RULES)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr


def _query(port: int, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())["data"]["result"]
    except OSError:
        return []


def _wait_for(port: int, expr: str, ok, timeout_s: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    got: list[dict] = []
    while time.monotonic() < deadline:
        got = _query(port, expr)
        if ok(got):
            return got
        time.sleep(0.5)
    raise AssertionError(f"Prometheus never had {expr} as wanted; last answer: {got}")


def _prometheus(tmp: Path, targets: dict[str, int]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    jobs = "".join(
        f"  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{p}']\n"
        for job, p in targets.items()
    )
    config = tmp / "prometheus.yml"
    config.write_text(f"global:\n  scrape_interval: 1s\nscrape_configs:\n{jobs}")
    proc = subprocess.Popen(
        [_tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp / "prometheus.log").open("w"),
    )  # fmt: skip
    return proc, port


def test_prometheus_scrapes_a_profiled_run_and_the_fleet_exporter(tmp_path, store, sqlite_url):
    _tool("prometheus")
    now = utcnow()
    for rid in ("fly-a", "fly-b"):  # two more runs in flight, recorded elsewhere
        insert_run(store, {"id": rid, "project": "team", "status": "running",
                           "started_at": now - timedelta(minutes=20), "heartbeat_at": now,
                           "provider": "aws", "instance_type": "m5.xlarge"})  # fmt: skip
    script, stop = tmp_path / "train.py", tmp_path / "stop"
    script.write_text(SCRIPT)
    run_port, fleet_port = free_port(), free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "costlens", "run", "--quiet", "--metrics-port", str(run_port),
             "--db", sqlite_url, "--project", "live", "--provider", "aws",
             "--instance", "m5.xlarge", "--", sys.executable, str(script), str(stop)],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "run.log").open("w"),
        ),
        subprocess.Popen(
            [sys.executable, "-m", "costlens", "exporter", "--db", sqlite_url,
             "--port", str(fleet_port), "--cache-s", "1"],
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "exporter.log").open("w"),
        ),
    ]  # fmt: skip
    prom, prom_port = _prometheus(tmp_path, {"run": run_port, "fleet": fleet_port})
    procs.append(prom)
    try:
        cost = _wait_for(prom_port, 'costlens_cost_usd_total{project="live"}',
                         lambda r: r and float(r[0]["value"][1]) > 0)  # fmt: skip
        assert cost[0]["metric"]["job"] == "run"
        energy = _wait_for(prom_port, "costlens_host_cpu_energy_joules_total",
                           lambda r: r and float(r[0]["value"][1]) > 0)  # fmt: skip
        assert energy[0]["metric"]["project"] == "live"
        rate = _query(prom_port, "costlens_cost_usd_per_hour")
        assert float(rate[0]["value"][1]) > 0
        both = {"fly-a", "fly-b"}
        flying = _wait_for(prom_port, "costlens_fleet_run_in_flight",
                           lambda r: both <= {s["metric"]["run_id"] for s in r})  # fmt: skip
        assert all(s["metric"]["job"] == "fleet" for s in flying)
        spend = _wait_for(prom_port, 'costlens_fleet_spend_usd{project="team",window="1h"}',
                          lambda r: bool(r))  # fmt: skip
        assert float(spend[0]["value"][1]) > 0
    finally:
        stop.touch()
        for p in procs[1:]:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    assert procs[0].returncode == 0, (tmp_path / "run.log").read_text()
