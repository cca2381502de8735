"""CLI: `costlens prices` (list, import), `costlens gpus`, `costlens cost RUN_ID`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from costlens.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    PricesFileOption,
    RunIdArgument,
    TargetOption,
    checked,
    count_parser,
    emit,
    emit_record,
    name_option,
    path_argument,
    path_option,
    stdout_console,
)
from costlens.cli.tables import DATE, ID, NUM, Col, ColumnsOption, WideOption
from costlens.core import validate
from costlens.core.vocab import DEFAULT_IDLE_THRESHOLD_PCT

PRICE_LAYOUT = (
    Col("provider", "provider", 0, ID),
    Col("instance_type", "instance", 0, ID),
    Col("region", "region", 1, ID),
    Col("gpu", "gpu", 1, ID),
    Col("gpu_count", "GPUs", 1, NUM),
    Col("price_usd_hour", "$/h", 2, NUM),
    Col("spot_price_usd_hour", "spot $/h", 4, NUM),
    Col("usd_per_gpu_hour", "$/GPU-h", 0, NUM),
    Col("confirmed", "conf.", 0, ID),
    Col("as_of", "as of", 3, DATE),
)
GPU_LAYOUT = (
    Col("key", "key", 0, ID),
    Col("vendor", "vendor", 3),
    Col("memory_gb", "mem GB", 1, NUM),
    Col("mem_bw_gbs", "GB/s", 2, NUM),
    Col("tdp_w", "TDP W", 2, NUM),
    Col("peak_fp32_flops_per_s", "fp32 FLOP/s", 1, NUM),
    Col("peak_bf16_flops_per_s", "bf16 FLOP/s", 1, NUM),
    Col("peak_fp16_flops_per_s", "fp16 FLOP/s", 2, NUM),
    Col("peak_fp8_flops_per_s", "fp8 FLOP/s", 2, NUM),
    Col("default_precision", "default", 1, ID),
    Col("as_of", "as of", 4, DATE),
)


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
    columns: ColumnsOption = None,
    wide: WideOption = False,
) -> None:
    """List instance prices, cheapest per GPU-hour first. CPU-only instances are priced per
    instance-hour. "conf. no": the row's note says UNCONFIRMED (see --format json "note")."""
    if ctx.invoked_subcommand is not None:
        return
    from costlens.price import price_rows
    from costlens.price.tables import PriceTable

    table = PriceTable.load(prices_file)
    rows = price_rows(table, gpu=gpu, provider=provider, spot=spot, limit=limit)
    layout = list(PRICE_LAYOUT)
    unit = "instance-h" if rows and all(r["gpu_count"] == 0 for r in rows) else "GPU-h"
    key = "spot_usd_per_gpu_hour" if spot else "usd_per_gpu_hour"
    layout[7] = Col(key, f"{'spot ' if spot else ''}$/{unit}", 0, NUM)
    emit(rows, fmt, layout=layout, empty_hint="No price rows match.", pick=columns, wide=wide)
    doubtful = sum(1 for r in rows if not r["confirmed"])
    if fmt is OutputFormat.table and doubtful:
        stdout_console().print(
            f"{doubtful} of {len(rows)} rows are UNCONFIRMED (conf. no): their note says why; "
            "check the provider's price page before relying on them.",
            style="dim",
            markup=False,
        )


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
    from costlens.cli.common import stderr
    from costlens.price.tables import import_skypilot

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


def gpus(
    fmt: FormatOption = OutputFormat.table,
    columns: ColumnsOption = None,
    wide: WideOption = False,
) -> None:
    """The accelerator spec table: dense peak FLOP/s per precision, memory, bandwidth, TDP."""
    from costlens.price.tables import gpu_specs

    rows = [s.as_dict() for s in gpu_specs()]
    emit(rows, fmt, layout=GPU_LAYOUT, pick=columns, wide=wide)


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
    wide: WideOption = False,
    target_text: TargetOption = None,
) -> None:
    """What a recorded run cost: on its hardware, energy, MFU, idle waste, other providers."""
    from costlens.cli.common import open_cli_store
    from costlens.price import cost_breakdown
    from costlens.price.tables import PriceTable
    from costlens.price.target import project_target

    target = project_target(target_text)
    table = PriceTable.load(prices_file)
    with open_cli_store(db) as store:
        out = cost_breakdown(
            store, run_id, prices=table, provider=provider, instance=instance, spot=spot,
            idle_threshold_pct=idle_threshold,
        )  # fmt: skip
        out = _with_target(store, out, target)
    if fmt is OutputFormat.json:
        emit_record(out, fmt)
        return
    if fmt is OutputFormat.table:
        from costlens.cli.costview import print_cost

        print_cost(stdout_console(), out, vcpus=_quoted_vcpus(table, out["quote"]), wide=wide)
        return
    out.pop("alternatives")
    emit_record(_flat(out), fmt)


def _with_target(store: Any, out: dict[str, Any], target: Any) -> dict[str, Any]:
    """The breakdown with its cost to ``target`` (on the breakdown's own cost), when set."""
    if target is None:
        return out
    from costlens.price.target import target_keys, with_target
    from costlens.store.queries import get_run

    record = {**get_run(store, out["run_id"]), "cost_usd": out.get("cost_usd")}
    record["duration_s"] = out.get("duration_s")  # the seconds the cost was priced on
    keys = with_target(store, [record], target)[0]
    return {**out, **{k: keys[k] for k in target_keys(None)}}


def _quoted_vcpus(table: Any, quote: dict[str, Any] | None) -> float | None:
    """The vCPUs of the quoted instance's price row (None when unlisted)."""
    if not quote:
        return None
    key = (quote["provider"], quote["instance_type"], quote["region"])
    for r in table.rows:
        if (r["provider"], r["instance_type"], r["region"]) == key:
            return r.get("vcpus")
    return None


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
