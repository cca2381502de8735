"""`costlens estimate --compare --target accuracy>=0.95 --project P`: every strategy priced at
equal quality, each on the data its own recorded runs needed to reach the target
(:mod:`costlens.estimator.to_target`), with the runs it rests on and how many reached."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from costlens.cli.common import OutputFormat, emit, stdout_console
from costlens.cli.tables import ID, NUM, Col, cell_text, kind_of
from costlens.core import fmt as f

if TYPE_CHECKING:
    from costlens.estimator.types import Scenario

TARGET_LAYOUT = (
    Col("strategy", "strategy", 0, ID),
    Col("reached", "reached", 0, ID),
    Col("data", "data to target", 1, ID),
    Col("total_cost_usd", "total $ at target (80%)", 0, ID),
    Col("savings_usd", "saves $", 1, NUM),
    Col("roi", "ROI", 3, NUM),
)


def estimate_at_target(
    db: str | None,
    target: str,
    *,
    project: str | None,
    tags: Sequence[str],
    lib: dict[str, Any],
    vs_scratch: dict[str, Any],
    fmt: OutputFormat,
    scenario: Scenario | None = None,
    from_run: str | None = None,
    run_overrides: dict[str, Any] | None = None,
) -> None:
    """Read the runs and their series, price every strategy at the target, print it."""
    from costlens.cli.common import open_cli_store
    from costlens.estimator.to_target import compare_at_target, project_needs
    from costlens.store.queries import get_run

    with open_cli_store(db) as store:
        needs, records = project_needs(store, target, project=project, tags=tags)
        record = get_run(store, from_run) if from_run else None
    result = compare_at_target(
        needs, records, scenario=scenario, from_run=record, **lib, **vs_scratch,
        **(run_overrides or {}),
    )  # fmt: skip
    result["target"].update(project=project, tags=list(tags))
    emit_target(result, fmt)


def emit_target(result: dict[str, Any], fmt: OutputFormat) -> None:
    """The comparison at equal quality: JSON and CSV raw, the table through core/fmt."""
    from costlens.cli.estimate_output import emit_raw

    if emit_raw(result, fmt):
        return
    t = result["target"]
    fallback = t["basis"] == "fallback"
    rows = [_row(r, fallback) for r in result["strategies"]]
    title = (
        f"{t['target']}: NOT at equal quality (no runs), value (80% interval)"
        if fallback
        else f"at equal quality, {t['target']}: value (80% interval); * extrapolation"
    )
    emit(rows, fmt, layout=TARGET_LAYOUT, title=title)
    for line in _notes(result):
        stdout_console().print(line, markup=False, highlight=False)


def _row(r: dict[str, Any], fallback: bool) -> dict[str, Any]:
    reached = r.get("reached_target")
    data = "not reached" if reached is False else _data(r)
    priced = r.get("total_cost_usd") is not None
    return {
        "strategy": r["strategy"] + (" *" if r.get("extrapolation") and priced else ""),
        "reached": "no runs" if fallback or reached is None else f"{r['runs_reached']}/{r['runs']}",
        "data": data,
        "total_cost_usd": "not reached"
        if reached is False
        else f.interval_of(r, "total_cost_usd", level=None),
        "savings_usd": r.get("savings_usd"),
        "roi": r.get("roi"),
    }


def _data(r: dict[str, Any]) -> str:
    if r.get("tokens_to_target") is None:
        return f.count(r.get("tokens"))
    level = r.get("interval_level")
    return f.interval(
        r["tokens_to_target"], r.get("tokens_to_target_low"), r.get("tokens_to_target_high"),
        f.count, level=level,
    )  # fmt: skip


def _notes(result: dict[str, Any]) -> list[str]:
    """Where every figure comes from: the runs, the method, the anchor, the price."""
    from costlens.cli.costview import priced_on

    t = result["target"]
    where = f"project {t['project']}" if t.get("project") else "every project"
    if t.get("tags"):
        where += " with tags " + ", ".join(t["tags"])
    if t["basis"] == "fallback":
        lines = [
            f"no completed run of {where} has a series held to {t['target']}: priced on the "
            "given inputs (--tokens, --scratch-tokens), not at equal quality."
        ]
    else:
        lines = [f"data to target (tokens, else samples) from {t['runs']} runs of {where}:"]
        lines += [f"  {r['strategy']}: {_basis(r)}" for r in result["strategies"]]
        lines.append(f"  method: {t['method']}.")
        lines += _spread(result["strategies"])
    if t.get("anchor_run"):
        lines.append(f"size, hardware and speed of run {t['anchor_run'][:12]}")
    first = next((r for r in result["strategies"] if r.get("usd_per_gpu_hour")), None)
    if first is not None:
        lines.append(f"priced on {priced_on(first)}")
    tail = {
        k: result.get(k)
        for k in ("compared_strategy", "savings_usd", "roi", "break_even_jobs", "best_strategy")
    }
    lines.append("  ".join(f"{k}={cell_text(v, kind_of(k))}" for k, v in tail.items()))
    return lines


def _basis(r: dict[str, Any]) -> str:
    ids = r.get("reached_run_ids") or r.get("run_ids") or []
    shown = ", ".join(i[:12] for i in ids[:5]) + (
        f" and {len(ids) - 5} more" if len(ids) > 5 else ""
    )
    return r["data_basis"] + (f" ({shown})" if shown else "")


def _spread(rows: list[dict[str, Any]]) -> list[str]:
    """Total $ at the ends of each strategy's data interval (the speed at its median)."""
    out = []
    for r in rows:
        low, high = r.get("total_cost_usd_data_low"), r.get("total_cost_usd_data_high")
        if r.get("tokens_to_target") is not None and low is not None and high is not None:
            out.append(f"  {r['strategy']} over its data interval: {f.span(low, high)}")
    return out
