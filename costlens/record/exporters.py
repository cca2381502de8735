"""Where the live metrics go: a Prometheus ``/metrics`` server and OpenTelemetry (OTLP).

Both are optional extras (``pip install 'costlens[metrics]'``), imported on first use on the live
thread, never on the training thread. Each scrape or export runs on the exporter's own thread and
reads the run's memory (:class:`costlens.record.metrics.MetricsFeed`); nothing waits on training
and training waits on nothing here. A port already taken, or a missing package, is one warning:
the run goes on. :func:`serve_metrics` is shared with the fleet exporter (``costlens exporter``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from costlens.record.metrics import COUNTER, Metric

log = logging.getLogger("costlens")

OTEL_EXPORT_EVERY_MS = 10_000  # OTEL_METRIC_EXPORT_INTERVAL overrides it (the SDK reads it)


def prometheus_families(metrics: list[Metric]) -> list[Any]:
    """The metrics as prometheus_client families (labels may differ between samples)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    out = []
    for m in metrics:
        if not m.samples:
            continue
        names = sorted({k for labels, _ in m.samples for k in labels})
        kind = CounterMetricFamily if m.kind == COUNTER else GaugeMetricFamily
        family = kind(m.name, m.help, labels=names)
        for labels, value in m.samples:
            family.add_metric([labels.get(k, "") for k in names], value)
        out.append(family)
    return out


class _Collector:
    def __init__(self, read: Callable[[], list[Metric]]) -> None:
        self.read = read

    def collect(self) -> Any:
        try:
            metrics = self.read()
        except Exception as exc:  # a scrape fails alone; the run never hears of it
            log.debug("costlens: metrics read failed: %s", exc)
            return
        yield from prometheus_families(metrics)

    def describe(self) -> list[Any]:
        return []  # not known before a read: keep registration free of a first read


def serve_metrics(read: Callable[[], list[Metric]], port: int, addr: str) -> Any:
    """Serve ``read()`` at ``http://addr:port/metrics`` on a daemon thread; returns the server
    (``.shutdown()`` ends it). Raises ``OSError`` when the port is taken, ``ImportError``
    without prometheus_client."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(read))  # type: ignore[arg-type]
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return _Served(server)


class _Served:
    """A running /metrics server: ``port`` (the one bound), ``shutdown()`` frees it."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.port: int = server.server_address[1]

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_prometheus(read: Callable[[], list[Metric]], port: int, addr: str) -> Any:
    """:func:`serve_metrics` for a run: a failure is one warning and None (the run goes on)."""
    try:
        server = serve_metrics(read, port, addr)
    except ImportError:
        log.warning(
            "costlens: --metrics-port needs prometheus_client (pip install 'costlens[metrics]'); "
            "the run goes on without /metrics"
        )
        return None
    except OSError as exc:
        log.warning(
            "costlens: cannot serve metrics on %s:%s (%s); the run goes on without /metrics",
            addr,
            port,
            exc.strerror or exc,
        )
        return None
    log.info("costlens: metrics at http://%s:%s/metrics", addr, port)
    return server


def otel_configured() -> bool:
    """OpenTelemetry is asked for: an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
    ``..._METRICS_ENDPOINT``), the SDK is not disabled and the metrics exporter is not none."""
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_METRICS_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip()
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    )


def start_otel(read: Callable[[], list[Metric]]) -> Any:
    """Export ``read()`` as OTLP metrics (HTTP/protobuf, the ``OTEL_*`` variables configure the
    endpoint, headers, interval and resource) from the SDK's own thread; returns the
    ``MeterProvider`` (``.shutdown()`` flushes and ends it), or None with one warning when
    ``opentelemetry-sdk`` or its OTLP exporter is missing."""
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.metrics import CallbackOptions, Observation
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    except ImportError:
        log.warning(
            "costlens: OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-sdk and its OTLP "
            "exporter are not installed (pip install 'costlens[metrics]'); no OTLP metrics"
        )
        return None
    every = os.environ.get("OTEL_METRIC_EXPORT_INTERVAL")
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(), export_interval_millis=None if every else OTEL_EXPORT_EVERY_MS
    )
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("costlens")
    first = read()
    cache = {"metrics": {m.otel_name: m for m in first}}
    lead = first[0].otel_name if first else ""

    def observe(name: str) -> Callable[[CallbackOptions], list[Observation]]:
        def callback(_options: CallbackOptions) -> list[Observation]:
            if name == lead:  # the first instrument's callback reads once for all of them
                cache["metrics"] = {m.otel_name: m for m in read()}
            m = cache["metrics"].get(name)
            return [Observation(v, _otel_labels(lb)) for lb, v in (m.samples if m else [])]

        return callback

    for m in first:
        make = (
            meter.create_observable_counter if m.kind == COUNTER else meter.create_observable_gauge
        )
        make(m.otel_name, callbacks=[observe(m.otel_name)], unit=m.unit, description=m.help)
    return provider


def _otel_labels(labels: dict[str, str]) -> dict[str, str]:
    """Semantic-convention attribute names where they exist."""
    names = {
        "gpu": "costlens.gpu.index",
        "uuid": "hw.id",
        "hw_type": "hw.type",
        "run_id": "costlens.run.id",
        "project": "costlens.project",
        "strategy": "costlens.strategy",
        "instance_type": "host.type",
        "hostname": "host.name",
    }
    return {names.get(k, k): v for k, v in labels.items()}
