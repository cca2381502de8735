"""The forecast page: the shipped example plan or an uploaded one -> costlens.budget.forecast, its
months and notes as text, and costlens.budget.files's files for download."""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from costlens.budget import files as export
from costlens.budget import forecast
from costlens.core.errors import CostlensError, UsageError
from costlens.core.fmt import interval_of, money, number, percent
from costlens.core.paths import data_dir
from costlens.core.units import finite_or_none
from costlens.core.validate import quantity
from costlens.price.tables import PriceTable

PLAN_SUFFIXES = (".csv", ".toml", ".yaml", ".yml")
EXAMPLE_PLAN_LABEL = "shipped example plan (data/example_plan.csv)"
DOWNLOAD_FORMATS = ("xlsx", "csv")
MAX_UPLOAD_BYTES = 5_000_000


def example_plan_path() -> Path:
    """The shipped example plan (data/example_plan.csv)."""
    return data_dir() / "example_plan.csv"


def decode_upload(contents: str, filename: str | None = None) -> bytes:
    """The bytes of a dcc.Upload ``contents`` data URL (UsageError when it is not one)."""
    if not contents or "," not in contents:
        raise UsageError(f"the upload {filename or ''} is empty or not a file.".replace("  ", " "))
    header, b64 = contents.split(",", 1)
    if ";base64" not in header:
        raise UsageError("the upload is not base64-encoded.")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UsageError(f"the upload {filename or ''} could not be decoded: {exc}.") from exc
    if len(raw) > MAX_UPLOAD_BYTES:
        raise UsageError(f"the upload is larger than {MAX_UPLOAD_BYTES // 1_000_000} MB.")
    return raw


def plan_upload(contents: str | None, filename: str | None) -> dict[str, str]:
    """A dcc.Upload result checked and kept as plain data for a dcc.Store."""
    name = os.path.basename(filename or "plan.csv")
    suffix = Path(name).suffix.lower()
    if suffix not in PLAN_SUFFIXES:
        raise UsageError(f"{name}: a plan is a {', '.join(PLAN_SUFFIXES)} file.")
    decode_upload(contents or "", name)  # refuse what cannot be decoded now, not later
    return {"name": name, "contents": contents or ""}


def choose_plan(
    use_example: bool, contents: str | None, filename: str | None
) -> tuple[dict[str, str] | None, str]:
    """(plan for the dcc.Store, label): the example plan, or the checked upload."""
    if use_example or not contents:
        return None, EXAMPLE_PLAN_LABEL
    upload = plan_upload(contents, filename)
    return upload, f"uploaded plan: {upload['name']}"


UPLOAD_MAX_JOBS = 2_000  # jobs in a plan uploaded to the page: bounded work per request


def _uploaded_jobs(upload: dict[str, str], prices: PriceTable) -> Any:
    """The jobs of an uploaded plan, read from a temporary copy; errors name the user's file."""
    raw = decode_upload(upload["contents"], upload["name"])
    fd, name = tempfile.mkstemp(suffix=Path(upload["name"]).suffix or ".csv", prefix="costlens_")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        return forecast.load_plan(path, prices=prices, max_jobs=UPLOAD_MAX_JOBS)
    except CostlensError as exc:
        raise type(exc)(str(exc).replace(str(path), upload["name"])) from None
    finally:
        path.unlink(missing_ok=True)


def run_forecast(
    upload: dict[str, str] | None,
    *,
    model: Any,
    prices: PriceTable,
    budget_usd: float | None = None,
    budget_period: str = "month",
) -> forecast.Forecast:
    """The forecast of the uploaded plan (``upload`` from :func:`plan_upload`) or, when None,
    of the shipped example plan, with the estimator ``model`` and the price table ``prices``."""
    if budget_usd is not None and not budget_usd > 0:
        budget_usd = None
    options = forecast.ForecastOptions(budget_usd=budget_usd, budget_period=budget_period)
    if not upload:
        return forecast.forecast(example_plan_path(), options, prices=prices, model=model)

    def work() -> forecast.Forecast:
        plan = _uploaded_jobs(upload, prices)
        return forecast.forecast(plan, options, prices=prices, model=model)

    return within_upload_budget(work, upload["name"])


# An uploaded plan is read and forecast on one worker thread, and the request waits for it at
# most UPLOAD_BUDGET_S: one upload at a time holds at most one core, a request never hangs, and
# an upload that takes longer is answered with what to do instead. (The worker finishes its
# bounded work, at most UPLOAD_MAX_JOBS jobs, in the background.)
UPLOAD_BUDGET_S = 30.0
_UPLOAD_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="costlens-upload")
_UPLOAD_SLOT = threading.Semaphore(1)


def within_upload_budget(
    work: Any,
    name: str,
    budget_s: float | None = None,
    *,
    busy: str = "another uploaded plan is still being forecast",
    task: str = "the forecast of this plan",
    cli: str = "costlens forecast PLAN",
) -> Any:
    """``work()`` on the upload worker, waited for at most ``budget_s`` (``UPLOAD_BUDGET_S``);
    a UsageError when over it, or when another upload still holds the worker (``busy``,
    ``task`` and ``cli`` word the messages for the page's kind of upload)."""
    budget_s = UPLOAD_BUDGET_S if budget_s is None else budget_s
    if not _UPLOAD_SLOT.acquire(blocking=False):
        raise UsageError(f"{name}: {busy}; try again in a moment.")

    def run() -> Any:
        try:
            return work()
        finally:
            _UPLOAD_SLOT.release()

    try:
        future = _UPLOAD_WORKER.submit(run)
    except BaseException:
        _UPLOAD_SLOT.release()
        raise
    try:
        return future.result(timeout=budget_s)
    except FutureTimeout:
        raise UsageError(
            f"{name}: {task} took more than {budget_s:g} s, the dashboard's limit for an "
            f"upload. Make the file smaller, or run `{cli}` on the command line, which has no "
            "such limit."
        ) from None


def forecast_with_budget(
    upload: dict[str, str] | None,
    budget: Any,
    period: str | None,
    *,
    model: Any,
    prices: PriceTable,
) -> tuple[forecast.Forecast, float | None]:
    """(forecast, budget in US$) for the page's inputs: the budget text is parsed by
    costlens.core.validate.quantity (NumberError when it is not a non-negative number)."""
    budget_usd = quantity(budget, "budget", required=False)
    fc = run_forecast(
        upload, model=model, prices=prices, budget_usd=budget_usd, budget_period=period or "month"
    )
    return fc, budget_usd


def forecast_file(fc: Any, fmt: str) -> tuple[bytes, str]:
    """The forecast written as ``fmt`` (xlsx or csv) by costlens.budget.files: (bytes, file
    name)."""
    if fmt not in DOWNLOAD_FORMATS:
        raise UsageError(f"unknown download format {fmt!r}; choose xlsx or csv.")
    with tempfile.TemporaryDirectory(prefix="costlens_dash_") as tmp:
        path = export.write(fc, Path(tmp) / f"forecast.{fmt}")
        return Path(path).read_bytes(), f"costlens_forecast.{fmt}"


def forecast_download(
    upload: dict[str, str] | None,
    budget: Any,
    period: str | None,
    fmt: str,
    *,
    model: Any,
    prices: PriceTable,
) -> tuple[bytes, str]:
    """The forecast of the chosen plan and budget as a file: (bytes, file name)."""
    fc, _ = forecast_with_budget(upload, budget, period, model=model, prices=prices)
    return forecast_file(fc, fmt)


def forecast_rows(fc: Any) -> list[dict[str, str]]:
    """The monthly forecast as text rows (expected cost with its 80% interval, GPU-hours,
    energy, runs, budget status)."""
    rows = []
    for r in fc.months.to_dict("records"):
        p_over = r.get("p_over_budget")
        rows.append(
            {
                "month": str(r["month"]),
                "runs": str(int(r["runs"])),
                "cost": interval_of(r, "cost_usd"),
                "gpu_hours": interval_of(r, "gpu_hours", number),
                "energy": interval_of(r, "energy_kwh", number),
                "over": percent(p_over)
                + ("" if finite_or_none(p_over) is None else " chance over budget"),
            }
        )
    return rows


def forecast_notes(fc: forecast.Forecast) -> list[str]:
    """Totals, budget verdict and what-ifs as sentences."""
    t = fc.total.as_dict()
    notes = [
        f"{t['jobs']} planned jobs ({t['runs']} runs): expected {interval_of(t, 'cost_usd')}, "
        f"{number(t['gpu_hours'], 'GPU-hours')}, {number(t['energy_kwh'], 'kWh')}."
    ]
    if fc.budget:
        over = list(fc.budget.over_months)
        per = "a month" if fc.budget.period == "month" else "in total"
        notes.append(
            f"Over the budget of {money(fc.budget.budget_usd)} {per}: {', '.join(over)}."
            if over
            else f"Within the budget of {money(fc.budget.budget_usd)} {per} (expected cost)."
        )
    for name, what_if in fc.what_ifs.items():
        w = what_if.as_dict()
        if w.get("savings_usd") is None:
            continue
        notes.append(
            f"What if ({name.replace('_', ' ')}): saves {interval_of(w, 'savings_usd')}; "
            f"{w.get('description', '')}."
        )
    return notes
