"""The run's live metrics: names and units (pure), /metrics served from a real profiled run's
memory, a taken port (one warning, the run goes on), a bad port refused, and OTLP to a local
receiver on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from costlens.core.errors import InputError
from costlens.record.metrics import RunSnapshot, run_metrics
from costlens.record.telemetry import Reading

pytest.importorskip("prometheus_client")

LABELS = {"run_id": "r1", "project": "p", "strategy": "lora", "instance_type": "", "hostname": "h"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def _value(text: str, name: str) -> float:
    lines = [ln for ln in text.splitlines() if ln.startswith(name + "{") or ln.startswith(name)]
    assert lines, f"{name} not in /metrics:\n{text}"
    return float(lines[0].rsplit(" ", 1)[1])


def test_metric_names_units_and_values_follow_the_conventions():
    gpu = Reading(0, gpu_util_pct=87.0, mem_used_bytes=2**30, power_w=250.0, energy_mj=5_000_000)
    snap = RunSnapshot(
        labels=LABELS, elapsed_s=10.0, steps=5, tokens=100, flops=1e12, cost_usd=0.5,
        usd_per_hour=36.0, max_usd=2.0, devices=[(0, "GPU-abc", gpu)],
        host=Reading(-1, host_cpu_pct=150.0, host_ram_bytes=10), cpu_energy_j=3.0,
    )  # fmt: skip
    by = {m.name: m for m in run_metrics(snap)}
    assert by["costlens_cost_usd"].kind == "counter"  # served as costlens_cost_usd_total
    assert by["costlens_cost_usd"].samples == [(LABELS, 0.5)]
    assert by["costlens_spend_limit_usd"].samples[0][1] == 2.0
    assert by["costlens_projected_cost_usd"].samples == []  # unknown: no sample, never a 0
    (labels, util), = by["costlens_gpu_utilization_ratio"].samples  # fmt: skip
    assert util == pytest.approx(0.87) and labels["gpu"] == "0" and labels["uuid"] == "GPU-abc"
    assert by["costlens_gpu_energy_joules"].samples[0][1] == pytest.approx(5000.0)  # mJ -> J
    assert by["costlens_gpu_energy_joules"].otel_name == "hw.energy"
    assert by["costlens_gpu_utilization_ratio"].otel_name == "hw.gpu.utilization"
    assert by["costlens_host_cpu_cores"].samples[0][1] == pytest.approx(1.5)


def test_a_profiled_run_serves_its_figures_from_memory(tmp_path):
    import costlens

    port = free_port()
    db = f"sqlite:///{tmp_path / 'm.db'}"
    with costlens.profile(metrics_port=port, quiet=True, db=db, provider="aws",
                          instance="m5.xlarge", sample_interval_s=0.1) as run:  # fmt: skip
        for _ in range(3):
            run.step(tokens=10)
        deadline = time.monotonic() + 20
        text = ""
        while time.monotonic() < deadline:  # the server starts on the live thread, soon
            try:
                text = _scrape(port)
            except OSError:
                text = ""
            if "costlens_cost_usd_total" in text and "costlens_host_cpu_energy" in text:
                break
            time.sleep(0.2)
    assert _value(text, "costlens_steps_total") == 3
    assert _value(text, "costlens_tokens_total") == 30
    assert _value(text, "costlens_cost_usd_per_hour") > 0
    assert _value(text, "costlens_cost_usd_total") >= 0
    assert f'run_id="{run.id}"' in text
    with pytest.raises(OSError):  # the server ended with the run and freed its port
        _scrape(port)


def test_a_taken_port_is_one_warning_and_the_run_goes_on(tmp_path, caplog):
    import costlens

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        caplog.set_level(logging.WARNING, logger="costlens")
        with costlens.profile(metrics_port=port, quiet=True, db=f"sqlite:///{tmp_path}/t.db",
                              sample_interval_s=0.1) as run:  # fmt: skip
            run.step()
            time.sleep(0.5)
    said = [r.getMessage() for r in caplog.records if "metrics" in r.getMessage()]
    assert len(said) == 1 and "the run goes on" in said[0]
    assert run.status == "completed"


def test_a_bad_port_is_refused_before_the_run():
    import costlens

    with pytest.raises(InputError, match="metrics_port"):
        costlens.profile(metrics_port=70000)


class _Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).got.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_otlp_metrics_reach_a_local_receiver(tmp_path, monkeypatch):
    pytest.importorskip("opentelemetry.sdk.metrics")
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http.metric_exporter")
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    import costlens

    _Receiver.got = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/metrics"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", url)
        monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
        with costlens.profile(quiet=True, db=f"sqlite:///{tmp_path}/o.db", provider="aws",
                              instance="m5.xlarge", sample_interval_s=0.1) as run:  # fmt: skip
            run.step(tokens=5)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(_Receiver.got) < 2:
                time.sleep(0.1)
    finally:
        server.shutdown()
        server.server_close()
    names = set()
    for body in _Receiver.got:
        req = ExportMetricsServiceRequest.FromString(body)
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                names.update(m.name for m in sm.metrics)
    assert {"costlens.run.cost", "costlens.steps", "costlens.host.cpu.energy"} <= names
