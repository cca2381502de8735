"""CLI: `costlens exporter`: a team store's runs in flight and spend, for one Prometheus job."""

from __future__ import annotations

from typing import Annotated

import typer

from costlens.cli.common import DbOption, checked, port_option
from costlens.core import config, validate


def exporter(
    db: DbOption = None,
    port: port_option("Port to serve /metrics on.") = 9464,
    addr: Annotated[
        str | None,
        typer.Option(
            "--addr",
            help="Address to listen on (default: $COSTLENS_METRICS_ADDR, else 127.0.0.1).",
            parser=checked("--addr", validate.name),
            show_default=False,
        ),
    ] = None,
    cache_s: Annotated[
        float,
        typer.Option(
            "--cache-s",
            help="Seconds a store read is served for (set it to the scrape interval).",
            parser=checked("--cache-s", validate.interval_s),
        ),
    ] = 15.0,
) -> None:
    """Serve every run in flight and each project's spend (1h, 1d, 7d, 30d) from the store as
    Prometheus metrics at http://ADDR:PORT/metrics (one store query per --cache-s)."""
    import threading

    from costlens.apps.fleet import FleetExporter
    from costlens.cli.common import open_cli_store, stderr
    from costlens.core.errors import CostlensError
    from costlens.price.tables import PriceTable
    from costlens.record.exporters import serve_metrics

    host = addr or config.METRICS_ADDR.get()
    with open_cli_store(db) as store:
        fleet = FleetExporter(store, PriceTable.load(), cache_s=cache_s)
        fleet.metrics()  # a store that cannot be read fails here, before serving
        try:
            served = serve_metrics(fleet.metrics, port, host)
        except ImportError:
            raise CostlensError(
                "costlens exporter needs prometheus_client: pip install 'costlens[metrics]'"
            ) from None
        except OSError as exc:
            raise CostlensError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}): choose another --port"
            ) from None
        stderr(f"costlens exporter on http://{host}:{port}/metrics for {store.display_url} "
               "(Ctrl+C stops it)")  # fmt: skip
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            served.shutdown()


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("exporter")(exporter)
