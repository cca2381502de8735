"""`costlens estimate`'s output: one estimate as a record, or every strategy compared, in the
terminal through :mod:`costlens.core.fmt`, and raw numbers in JSON and CSV."""

from __future__ import annotations

from typing import Any

from costlens.cli.common import OutputFormat, emit, emit_record, stdout_console
from costlens.cli.tables import ID, NUM, Col, cell_text, kind_of
from costlens.core.fmt import interval_of, number

TABLE_FIELDS = (
    "strategy", "flops", "wall_hours", "wall_hours_low", "wall_hours_high", "gpu_hours",
    "gpu_hours_low", "gpu_hours_high", "gpu_hours_compute", "cost_usd", "cost_usd_low",
    "cost_usd_high",
    "energy_kwh", "label_cost_usd", "total_cost_usd", "mfu_assumed", "extrapolation",
    "precision", "tokens", "tokens_basis", "flops_basis", "memory_gb_per_gpu", "min_gpus",
    "memory_basis",
)  # fmt: skip
COMPARE_LAYOUT = (
    Col("strategy", "strategy", 0, ID),
    Col("gpu_hours", "GPU-h (80%)", 1, ID),
    Col("cost_usd", "compute $ (80%)", 0, ID),
    Col("total_cost_usd", "total $ (80%)", 2, ID),
    Col("savings_usd", "saves $", 1, NUM),
    Col("roi", "ROI", 3, NUM),
)


def emit_one(record: dict[str, Any], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.table:
        shown = {k: record.get(k) for k in TABLE_FIELDS}
        from costlens.cli.costview import priced_on

        shown["priced_on"] = priced_on(record)
        emit_record(
            shown, fmt, title=f"estimate ({record['gpus']} x {record['gpu']}), 80% interval"
        )
    else:
        emit_record(record, fmt)


def emit_raw(result: dict[str, Any], fmt: OutputFormat) -> bool:
    """A comparison in a machine format (JSON whole, CSV one row per strategy): True when
    written, False for the table (the caller lays it out)."""
    if fmt is OutputFormat.json:
        emit_record(result, fmt)
    elif fmt is OutputFormat.csv:
        emit(result["strategies"], fmt)
    return fmt is not OutputFormat.table


def emit_compare(result: dict[str, Any], fmt: OutputFormat) -> None:
    if emit_raw(result, fmt):
        return
    rows = [
        {
            "strategy": r["strategy"] + (" *" if r["extrapolation"] else ""),
            "gpu_hours": interval_of(r, "gpu_hours", number, level=None),
            "cost_usd": interval_of(r, "cost_usd", level=None),
            "total_cost_usd": interval_of(r, "total_cost_usd", level=None),
            "savings_usd": r.get("savings_usd"),
            "roi": r.get("roi"),
        }
        for r in result["strategies"]
    ]
    emit(rows, fmt, layout=COMPARE_LAYOUT, title="value (80% interval); * extrapolation")
    from costlens.cli.costview import priced_on

    first = result["strategies"][0] if result["strategies"] else {}
    stdout_console().print(f"priced on {priced_on(first)}", markup=False, highlight=False)

    tail = {
        k: result.get(k)
        for k in ("compared_strategy", "savings_usd", "roi", "break_even_jobs", "best_strategy")
    }
    text = "  ".join(f"{k}={cell_text(v, kind_of(k))}" for k, v in tail.items())
    stdout_console().print(text, markup=False, highlight=False)
