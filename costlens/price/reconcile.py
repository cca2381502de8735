"""Reconciliation of a FOCUS bill with the runs costlens recorded.

Each billed line is one of:
- **explained by runs**: a Usage line for compute (ServiceCategory "Compute" or "AI and Machine
  Learning") on a resource (``ResourceId``) that a recorded run ran on (``runs.instance_id``),
  for the part of its charge period the runs covered. A line's dollars are spread evenly over its
  charge period; a stretch where several runs overlap is split evenly between them.
- **idle**: the rest of such a line (the instance was billed, no run was recorded on it), and
  compute lines on resources no run was recorded on.
- **out of scope**: everything else (taxes, credits, purchases, adjustments, storage, network,
  lines without a resource id), by reason.

So explained + idle + out of scope = the bill, per line. For the explained part, costlens's own
priced figure (the run's ``cost_usd`` from the dated price table, times the share of the run
inside the line's charge period) is compared with the billed one; the gap comes with the reasons
costlens can name from the bill's own columns and the run's records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from costlens.core import fmt
from costlens.core.errors import CostlensError
from costlens.price.bill import BillLine
from costlens.price.breakdown import run_cost
from costlens.price.focus import started
from costlens.price.tables import PriceTable

COMPUTE_SERVICES = ("Compute", "AI and Machine Learning")
NO_RUN = "(no run)"
SHARED = "(several projects)"


def out_of_scope_reason(line: BillLine) -> str | None:
    """Why a bill line is outside what runs can explain, or None when it is compute usage."""
    if line.category != "Usage":
        return f"{line.category} charges"
    if line.service not in COMPUTE_SERVICES:
        return f"{line.service} usage"
    if not line.resource_id:
        return "usage without a resource id"
    return None


@dataclass
class _Run:
    record: dict[str, Any]
    start: datetime
    end: datetime
    cost_usd: float | None
    quote: dict[str, Any]


@dataclass
class Reconciliation:
    """Per instance, per project and out-of-scope rows, the totals and the bill's currency."""

    instances: list[dict[str, Any]] = field(default_factory=list)
    projects: list[dict[str, Any]] = field(default_factory=list)
    out_of_scope: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    currency: str = "USD"


def _priced_runs(runs: Iterable[dict[str, Any]], prices: PriceTable) -> dict[str, list[_Run]]:
    """The runs with an instance id and a duration, by instance id, with costlens's price."""
    out: dict[str, list[_Run]] = defaultdict(list)
    for record in runs:
        if not record.get("instance_id"):
            continue
        try:
            cost = run_cost(record, prices=prices, alternatives=False)
        except CostlensError:
            cost = {"duration_s": None}
        seconds = cost.get("duration_s")
        if seconds is None:
            continue
        start = started(record)
        out[record["instance_id"]].append(
            _Run(record, start, start + timedelta(seconds=seconds), cost.get("cost_usd"),
                 cost.get("quote") or {})
        )  # fmt: skip
    return out


def split_line(
    line: BillLine, runs: list[_Run]
) -> tuple[dict[int, float], float, dict[int, float]]:
    """A compute line's dollars by run (index into ``runs``), its idle dollars, and each run's
    seconds inside the line's charge period."""
    period = (line.end - line.start).total_seconds()
    if period <= 0:  # an instant charge: the runs active at its start share it
        active = [i for i, r in enumerate(runs) if r.start <= line.start < r.end]
        share = {i: line.billed_usd / len(active) for i in active}
        return share, 0.0 if active else line.billed_usd, {}
    cuts = {line.start, line.end}
    for r in runs:
        cuts.update(t for t in (r.start, r.end) if line.start < t < line.end)
    points = sorted(cuts)
    by_run: dict[int, float] = defaultdict(float)
    inside: dict[int, float] = defaultdict(float)
    idle = 0.0
    for a, b in pairwise(points):
        usd = line.billed_usd * (b - a).total_seconds() / period
        active = [i for i, r in enumerate(runs) if r.start < b and r.end > a]
        for i in active:
            by_run[i] += usd / len(active)
            inside[i] += (b - a).total_seconds()
        if not active:
            idle += usd
    return dict(by_run), idle, dict(inside)


def _reasons(lines: list[BillLine], runs: list[_Run], used: set[int]) -> list[str]:
    """What costlens can name about a gap between the billed and the priced dollars."""
    out: set[str] = set()
    listed = [ln for ln in lines if ln.list_cost is not None and ln.list_cost > ln.billed_usd]
    if listed:
        lst, billed = sum(ln.list_cost or 0 for ln in listed), sum(ln.billed_usd for ln in listed)
        out.add(f"discounts on the bill (list {fmt.money(lst)}, billed {fmt.money(billed)})")
    if any(ln.commitment_id or ln.pricing_category == "Committed" for ln in lines):
        out.add("a commitment discount (savings plan or reservation) covers part of it")
    billed_spot = any(ln.pricing_category == "Dynamic" for ln in lines)
    types = {ln.resource_type for ln in lines if ln.resource_type}
    for i in used:
        run = runs[i]
        if run.cost_usd is None:
            out.add(f"run {run.record['id']} has no price in costlens's tables")
            continue
        if billed_spot != bool(run.quote.get("spot")):
            billed, priced = ("spot", "on-demand") if billed_spot else ("on-demand", "spot")
            out.add(f"billed at {billed}, costlens priced {priced}")
        if run.record.get("instance_basis") != "detected":
            basis = run.record.get("instance_basis") or "cheapest match"
            out.add(f"run {run.record['id']}'s instance was not detected: priced on "
                    f"{run.quote.get('instance_type')} ({basis})")  # fmt: skip
        if types and run.quote.get("instance_type") not in types:
            out.add(
                f"billed as {', '.join(sorted(types))}, priced as {run.quote.get('instance_type')}"
            )
        if run.quote.get("as_of"):
            out.add(f"costlens's price is the table's of {run.quote.get('as_of')}")
    return sorted(out)


def _instance_row(resource: str, lines: list[BillLine], runs: list[_Run]) -> dict[str, Any]:
    """One instance's billed, explained, idle and priced dollars, and the gap with its reasons."""
    explained_by_run: dict[int, float] = defaultdict(float)
    priced = 0.0
    idle = 0.0
    for line in lines:
        by_run, line_idle, inside = split_line(line, runs)
        idle += line_idle
        for i, usd in by_run.items():
            explained_by_run[i] += usd
        for i, seconds in inside.items():
            run_s = (runs[i].end - runs[i].start).total_seconds()
            if runs[i].cost_usd is not None and run_s > 0:
                priced += runs[i].cost_usd * seconds / run_s
    explained = sum(explained_by_run.values())
    used = set(explained_by_run)
    projects = {runs[i].record.get("project") or "default" for i in used}
    gap = explained - priced if used else None
    small = gap is None or abs(gap) <= 0.005 * max(explained, 1e-9)
    return {
        "resource_id": resource,
        "project": next(iter(projects)) if len(projects) == 1 else (SHARED if projects else NO_RUN),
        "runs": len(used),
        "billed_usd": sum(ln.billed_usd for ln in lines),
        "explained_usd": explained,
        "idle_usd": idle,
        "priced_usd": priced if used else None,
        "gap_usd": gap,
        "gap_reasons": [] if small else _reasons(lines, runs, used),
        "_by_project": _by_project(runs, explained_by_run),
        "_priced_by_project": _priced_by_project(runs, lines),
    }


def _by_project(runs: list[_Run], by_run: dict[int, float]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for i, usd in by_run.items():
        out[runs[i].record.get("project") or "default"] += usd
    return dict(out)


def _priced_by_project(runs: list[_Run], lines: list[BillLine]) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for line in lines:
        for i, seconds in split_line(line, runs)[2].items():
            run_s = (runs[i].end - runs[i].start).total_seconds()
            if runs[i].cost_usd is not None and run_s > 0:
                out[runs[i].record.get("project") or "default"] += (
                    runs[i].cost_usd * seconds / run_s
                )
    return dict(out)


def _project_rows(instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per project: the dollars its runs explain, the idle of instances only it used, priced."""
    rows: dict[str, dict[str, Any]] = {}

    def row(name: str) -> dict[str, Any]:
        zero = dict.fromkeys(("billed_usd", "explained_usd", "idle_usd", "priced_usd"), 0.0)
        return rows.setdefault(name, {"project": name, **zero, "instances": 0})

    for inst in instances:
        for name, usd in inst["_by_project"].items():
            row(name)["explained_usd"] += usd
            row(name)["billed_usd"] += usd
        for name, usd in inst["_priced_by_project"].items():
            row(name)["priced_usd"] += usd
        owner = row(inst["project"])
        owner["idle_usd"] += inst["idle_usd"]
        owner["billed_usd"] += inst["idle_usd"]
        owner["instances"] += 1
    for r in rows.values():
        r["gap_usd"] = r["explained_usd"] - r["priced_usd"] if r["explained_usd"] else None
        if not r["explained_usd"]:
            r["priced_usd"] = None
    return sorted(rows.values(), key=lambda r: -r["billed_usd"])


def reconcile(
    lines: list[BillLine], runs: Iterable[dict[str, Any]], *, prices: PriceTable
) -> Reconciliation:
    """The bill's every dollar attributed to runs, idle or out of scope (see the module)."""
    result = Reconciliation(currency=lines[0].currency if lines else "USD")
    by_instance = _priced_runs(runs, prices)
    compute: dict[str, list[BillLine]] = defaultdict(list)
    scope: dict[str, list[BillLine]] = defaultdict(list)
    for line in lines:
        reason = out_of_scope_reason(line)
        if reason:
            scope[reason].append(line)
        else:
            compute[line.resource_id or ""].append(line)
    for resource, its_lines in compute.items():
        result.instances.append(_instance_row(resource, its_lines, by_instance.get(resource, [])))
    result.instances.sort(key=lambda r: -r["billed_usd"])
    result.projects = _project_rows(result.instances)
    for inst in result.instances:
        del inst["_by_project"], inst["_priced_by_project"]
    result.out_of_scope = sorted(
        ({"reason": k, "lines": len(v), "billed_usd": sum(ln.billed_usd for ln in v)}
         for k, v in scope.items()), key=lambda r: -abs(r["billed_usd"]),
    )  # fmt: skip
    result.totals = {
        "billed_usd": sum(ln.billed_usd for ln in lines),
        "explained_usd": sum(r["explained_usd"] for r in result.instances),
        "idle_usd": sum(r["idle_usd"] for r in result.instances),
        "out_of_scope_usd": sum(r["billed_usd"] for r in result.out_of_scope),
        "priced_usd": sum(r["priced_usd"] or 0.0 for r in result.instances),
    }
    if result.currency != "USD":  # costlens prices in USD: no gap across currencies
        for r in result.instances + result.projects:
            r["priced_usd"] = r["gap_usd"] = None
        result.totals["priced_usd"] = None
    return result
