"""The reconcile page: an uploaded FOCUS bill (CSV) -> costlens.price.reconcile against the app's
store and price table, its totals, per-instance, per-project and out-of-scope rows as text
(every figure through costlens.core.fmt)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from costlens.core import fmt
from costlens.core.errors import CostlensError, UsageError
from costlens.price.bill import read_bill
from costlens.price.reconcile import Reconciliation, reconcile
from costlens.price.tables import PriceTable
from costlens.store.queries import list_runs
from dashboard.views.forecast import decode_upload, within_upload_budget

BILL_SUFFIXES = (".csv", ".parquet", ".pq")  # Parquet is refused by read_bill with its message
NO_BILL_LABEL = "no bill yet: drop a FOCUS cost-and-usage export (CSV) above"


def bill_upload(contents: str | None, filename: str | None) -> dict[str, str]:
    """A dcc.Upload result checked (name, decodable, size) and kept as plain data."""
    name = os.path.basename(filename or "bill.csv")
    if Path(name).suffix.lower() not in BILL_SUFFIXES:
        raise UsageError(f"{name}: a FOCUS bill is a .csv file (a cost-and-usage export).")
    decode_upload(contents or "", name)
    return {"name": name, "contents": contents or ""}


def choose_bill(contents: str | None, filename: str | None) -> tuple[dict[str, str] | None, str]:
    """(bill for the dcc.Store, label): None and a hint until a file is dropped."""
    if not contents:
        return None, NO_BILL_LABEL
    upload = bill_upload(contents, filename)
    return upload, f"bill: {upload['name']}"


def _read_upload(upload: dict[str, str]) -> list[Any]:
    """The bill's lines, read from a temporary copy; errors name the user's file."""
    raw = decode_upload(upload["contents"], upload["name"])
    suffix = Path(upload["name"]).suffix.lower() or ".csv"
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix="costlens_bill_")
    path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        return read_bill(path)
    except CostlensError as exc:
        raise type(exc)(str(exc).replace(str(path), upload["name"])) from None
    finally:
        path.unlink(missing_ok=True)


def reconcile_upload(upload: dict[str, str], *, store: Any, prices: PriceTable) -> Reconciliation:
    """The uploaded bill matched to the store's runs, on the upload worker within its budget."""

    def work() -> Reconciliation:
        lines = _read_upload(upload)
        return reconcile(lines, list_runs(store), prices=prices)

    return within_upload_budget(
        work, upload["name"], busy="another uploaded file is still being read",
        task="reconciling this bill", cli="costlens reconcile BILL",
    )  # fmt: skip


def amount(value: Any, currency: str) -> str:
    """A figure of the bill: US$ through fmt.money, another currency as a number with its code."""
    return fmt.money(value) if currency == "USD" else fmt.number(value, currency)


def totals(result: Reconciliation) -> list[tuple[str, str, str]]:
    """(label, figure, note) of the bill's totals: runs + idle + out of scope = billed."""
    t, cur = result.totals, result.currency
    share = (lambda v: fmt.percent(v / t["billed_usd"]) + " of the bill") if t["billed_usd"] else (
        lambda v: ""
    )  # fmt: skip
    return [
        ("Billed", amount(t["billed_usd"], cur), f"{cur}, the bill's total"),
        ("Explained by runs", amount(t["explained_usd"], cur), share(t["explained_usd"])),
        ("Idle", amount(t["idle_usd"], cur), "compute billed with no run: " + share(t["idle_usd"])),
        ("Out of scope", amount(t["out_of_scope_usd"], cur), "storage, network, taxes, credits"),
        ("costlens priced", amount(t["priced_usd"], "USD"), "the runs, from the dated table"),
    ]


def _figures(row: dict[str, Any], cur: str) -> dict[str, str]:
    return {
        "billed": amount(row["billed_usd"], cur),
        "explained": amount(row["explained_usd"], cur),
        "idle": amount(row["idle_usd"], cur),
        "priced": amount(row["priced_usd"], "USD"),
        "gap": amount(row["gap_usd"], cur),
    }


def instance_rows(result: Reconciliation) -> list[dict[str, str]]:
    """Per billed instance: its project, runs, the figures and the reasons for a gap."""
    return [
        {"instance": r["resource_id"] or fmt.MISSING, "project": r["project"],
         "runs": fmt.count(r["runs"]), **_figures(r, result.currency),
         "reasons": "; ".join(r["gap_reasons"]) or "-"}
        for r in result.instances
    ]  # fmt: skip


def project_rows(result: Reconciliation) -> list[dict[str, str]]:
    """Per project: the dollars its runs explain, the idle of the instances it alone used."""
    return [
        {"project": r["project"], "instances": fmt.count(r["instances"]),
         **_figures(r, result.currency)}
        for r in result.projects
    ]  # fmt: skip


def out_of_scope_rows(result: Reconciliation) -> list[dict[str, str]]:
    """The bill's lines runs cannot explain, by reason."""
    return [
        {"reason": r["reason"], "lines": fmt.count(r["lines"]),
         "billed": amount(r["billed_usd"], result.currency)}
        for r in result.out_of_scope
    ]  # fmt: skip


def gap_reasons(result: Reconciliation) -> list[str]:
    """One sentence per instance whose billed and priced figures differ, with the reasons."""
    out = []
    for r in result.instances:
        if r["gap_reasons"]:
            gap = amount(r["gap_usd"], result.currency)
            out.append(f"{r['resource_id']} (billed minus priced {gap}): "
                       + "; ".join(r["gap_reasons"]) + ".")  # fmt: skip
    return out
