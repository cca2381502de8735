"""CLI: `costlens prices` (list, import), `costlens gpus`, `costlens cost RUN_ID`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from costlens import validate
from costlens.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    PricesFileOption,
    RunIdArgument,
    checked,
    count_parser,
    emit,
    emit_record,
    name_option,
    path_argument,
    path_option,
)
from costlens.vocab import DEFAULT_IDLE_THRESHOLD_PCT

PRICE_TABLE_COLUMNS = (
    "provider", "instance_type", "region", "gpu", "gpu_count", "price_usd_hour",
    "spot_price_usd_hour", "usd_per_gpu_hour", "as_of",
)  # fmt: skip
GPU_TABLE_COLUMNS = (
    "key", "vendor", "memory_gb", "mem_bw_gbs", "tdp_w", "peak_fp32_flops_per_s",
    "peak_bf16_flops_per_s", "peak_fp8_flops_per_s", "as_of",
)  # fmt: skip

ALTERNATIVE_COLUMNS = (
    "provider", "instance_type", "region", "instances", "usd_per_hour", "cost_usd",
    "spot_instance_type", "spot_usd_per_hour", "spot_cost_usd",
)  # fmt: skip


class ImportFormat(str, Enum):
    skypilot = "skypilot"


prices_app = typer.Typer(
    help="Cloud instance prices (shipped dated tables + your own price file).",
    invoke_without_command=True,
    no_args_is_help=False,
)


@prices_app.callback()
def prices(
    ctx: typer.Context,
    gpu: name_option("--gpu", "Only this accelerator (any name).") = None,
    provider: name_option("--provider", "Only this provider.") = None,
    spot: Annotated[bool, typer.Option("--spot", help="Spot prices (rows with one).")] = False,
    prices_file: PricesFileOption = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="At most this many rows.", parser=count_parser("--limit")),
    ] = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """List instance prices, cheapest per GPU-hour first."""
    if ctx.invoked_subcommand is not None:
        return
    from costlens.catalog import PriceTable
    from costlens.cost import price_rows

    table = PriceTable.load(prices_file)
    rows = price_rows(table, gpu=gpu, provider=provider, spot=spot, limit=limit)
    cols = list(PRICE_TABLE_COLUMNS)
    if spot:
        cols[cols.index("usd_per_gpu_hour")] = "spot_usd_per_gpu_hour"
    emit(rows, fmt, columns=cols, empty_hint="No price rows match.")


@prices_app.command("import")
def prices_import(
    path: path_argument("PATH", "A SkyPilot catalog vms.csv (schema v8)."),
    fmt: Annotated[
        ImportFormat, typer.Option("--format", help="Input format.", case_sensitive=False)
    ] = ImportFormat.skypilot,
    provider: name_option(
        "--provider", "aws, gcp or lambda (default: from the folder name or the layout)."
    ) = None,
    prices_out: path_option(
        "--prices-out", "Write here instead of ~/.costlens/prices.csv.", show_default=False
    ) = None,
    include_cpu: Annotated[
        bool, typer.Option("--include-cpu", help="Also import CPU-only instances.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Date of the catalog (default: the file's date), YYYY-MM-DD.",
            parser=checked("--as-of", validate.calendar_date),
        ),
    ] = None,
) -> None:
    """Import a SkyPilot catalog into your price table (merged; validated; atomic)."""
    from costlens.catalog import import_skypilot
    from costlens.cli.common import stderr

    res = import_skypilot(
        path, out=prices_out, provider=provider, include_cpu=include_cpu, as_of=as_of
    )
    stderr(
        f"imported {res.rows_imported} {res.provider} rows into {res.path} "
        f"({res.rows_total} rows in all)."
    )
    if res.skipped:
        top = sorted(res.skipped.items(), key=lambda kv: -kv[1])[:8]
        stderr("skipped: " + ", ".join(f"{k} ({v} rows)" for k, v in top))


def gpus(fmt: FormatOption = OutputFormat.table) -> None:
    """The accelerator spec table: dense peak FLOP/s per precision, memory, bandwidth, TDP."""
    from costlens.catalog import gpu_specs

    rows = [s.as_dict() for s in gpu_specs()]
    emit(rows, fmt, columns=GPU_TABLE_COLUMNS)


def cost(
    run_id: RunIdArgument,
    provider: name_option("--provider", "Price on this provider.") = None,
    instance: name_option("--instance", "Price on this instance type.") = None,
    spot: Annotated[bool, typer.Option("--spot", help="Spot prices.")] = False,
    idle_threshold: Annotated[
        float,
        typer.Option(
            "--idle-threshold",
            help="GPU utilisation (%) under which time counts as idle.",
            parser=checked("--idle-threshold", validate.percent),
        ),
    ] = DEFAULT_IDLE_THRESHOLD_PCT,
    prices_file: PricesFileOption = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """What a recorded run cost: on its hardware, energy, MFU, idle waste, other providers."""
    from costlens.catalog import PriceTable
    from costlens.cli.common import open_cli_store
    from costlens.cost import cost_breakdown

    store = open_cli_store(db, create=False)
    table = PriceTable.load(prices_file)
    out = cost_breakdown(
        store, run_id, prices=table, provider=provider, instance=instance, spot=spot,
        idle_threshold_pct=idle_threshold,
    )  # fmt: skip
    if fmt is OutputFormat.json:
        emit_record(out, fmt)
        return
    alternatives = out.pop("alternatives")
    emit_record(_flat(out), fmt, title=f"cost of run {out['run_id']}")
    if fmt is OutputFormat.table and alternatives:
        emit(
            alternatives,
            fmt,
            columns=ALTERNATIVE_COLUMNS,
            title="the same run on each provider",
        )


def _flat(breakdown: dict[str, Any]) -> dict[str, Any]:
    """A breakdown as one flat record: the quote's keys as ``quote_*``, notes joined by "; "."""
    quote = breakdown.pop("quote") or {}
    flat = {**breakdown, **{f"quote_{k}": v for k, v in quote.items()}}
    flat["notes"] = "; ".join(breakdown["notes"])
    return flat


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.add_typer(prices_app, name="prices")
    app.command("gpus")(gpus)
    app.command("cost")(cost)
