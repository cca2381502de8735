"""The estimate page: the what-if form's values -> costlens.estimator's per-strategy comparison
on the cheapest instance and on each provider that offers the hardware, as text rows."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from costlens import estimator
from costlens.core.errors import PriceNotFoundError, UsageError
from costlens.core.fmt import MISSING, interval_of, money, number, percent
from costlens.core.validate import quantity
from costlens.core.vocab import CPU_KEY, ESTIMABLE_STRATEGIES, PRECISIONS, SCRATCH
from costlens.price.tables import PriceTable

ESTIMATE_DEFAULTS: dict[str, Any] = {
    "params": "1.3B",
    "tokens": "20B",
    "samples": "",
    "seq_len": "",
    "epochs": "",
    "scratch_tokens": "",
    "gpu": "A100-80GB-SXM",
    "gpus": 8,
    "precision": "",
    "spot": False,
    "trainable_fraction": "",
    "labelled_samples": "",
    "scratch_labelled_samples": "",
    "usd_per_label": "",
}
ESTIMATE_FORM_IDS: tuple[str, ...] = tuple(ESTIMATE_DEFAULTS)  # form field ids: est-<key>
GPU_DEFAULT_PRECISION = ""  # the precision choice meaning "the accelerator's own default"


def estimate_options(prices: PriceTable) -> dict[str, list[str]]:
    """Choices of the what-if form: accelerators with a price, precisions, providers,
    strategies."""
    frame = prices.frame
    priced = set(frame["gpu"])
    return {
        "gpu": [s.key for s in prices.accelerators.specs if s.key in priced and s.key != CPU_KEY],
        "precision": [GPU_DEFAULT_PRECISION, *PRECISIONS],
        "provider": sorted(set(frame["provider"])),
        "strategy": list(ESTIMABLE_STRATEGIES),
    }


def scenario_from_form(form: dict[str, Any]) -> estimator.Scenario:
    """The estimator Scenario of the form's values (a NumberError or UsageError names the
    field)."""
    gpus = quantity(form.get("gpus"), "GPUs", minimum=1, integer=True)
    frac = quantity(
        form.get("trainable_fraction"), "trainable fraction", required=False, above=True
    )
    if frac is not None and frac > 1:
        raise UsageError("trainable fraction must be in (0, 1].")
    labels = quantity(form.get("labelled_samples"), "labelled samples", required=False)
    per_label = quantity(form.get("usd_per_label"), "US$ per label", required=False)
    if (labels is None) != (per_label is None):
        raise UsageError("give both labelled samples and US$ per label, or neither.")
    data = estimator.data_tokens(
        quantity(form.get("tokens"), "tokens", required=False, above=True),
        quantity(form.get("samples"), "samples", required=False, above=True),
        quantity(form.get("seq_len"), "seq len", required=False, above=True),
        quantity(form.get("epochs"), "epochs", required=False, above=True),
    )
    if data["tokens"] is None:
        raise UsageError("give tokens, or samples and seq len.")
    return estimator.Scenario(
        params=quantity(form.get("params"), "parameters"),
        tokens=data["tokens"],
        epochs=data["epochs"],
        seq_len=quantity(form.get("seq_len"), "seq len", required=False, above=True),
        gpu=str(form.get("gpu") or ESTIMATE_DEFAULTS["gpu"]),
        gpus=int(gpus or 1),
        precision=str(form.get("precision") or "") or None,
        spot=bool(form.get("spot")),
        trainable_fraction=frac,
        labelled_samples=labels,
        usd_per_label=per_label,
    )


def _per_provider(
    scenario: estimator.Scenario,
    rows: list[dict[str, Any]],
    prices: PriceTable,
    scratch_labels: float | None,
) -> tuple[list[estimator.Scenario], list[str]]:
    """Every strategy's scenario on each provider that prices the hardware; providers without."""
    scenarios, missing = [], []
    for provider in estimate_options(prices)["provider"]:
        try:
            prices.cheapest(scenario.gpu, scenario.gpus, provider=provider, spot=scenario.spot)
        except PriceNotFoundError:
            missing.append(provider)
            continue
        for row in rows:
            kw: dict[str, Any] = {"strategy": row["strategy"], "provider": provider}
            if row["strategy"] in (SCRATCH, "full-finetune"):
                kw["trainable_fraction"] = None
            if row["strategy"] == SCRATCH and scratch_labels is not None:
                kw["labelled_samples"] = scratch_labels
            scenarios.append(dataclasses.replace(scenario, **kw))
    return scenarios, missing


def estimate(form: dict[str, Any], prices: PriceTable, model: Any) -> dict[str, Any]:
    """What-if estimate for the form: every strategy on the cheapest instance (with savings and
    ROI against scratch) and every strategy on each provider that offers the hardware.

    Returns {"strategies": DataFrame, "by_provider": DataFrame, "summary": dict,
    "providers_missing": [provider, ...]}.
    """
    scenario = scenario_from_form(form)
    scratch_labels = quantity(
        form.get("scratch_labelled_samples"), "labelled samples from scratch", required=False
    )
    scratch_tokens = quantity(
        form.get("scratch_tokens"), "tokens from scratch", required=False, above=True
    )
    cmp = estimator.compare(
        scenario, model=model, prices=prices, scratch_labelled_samples=scratch_labels,
        scratch_tokens=scratch_tokens,
    )  # fmt: skip
    scenarios, missing = _per_provider(scenario, cmp["strategies"], prices, scratch_labels)
    estimates = estimator.estimate_many(scenarios, model=model, prices=prices) if scenarios else []
    return {
        "strategies": pd.DataFrame(cmp["strategies"]),
        "by_provider": pd.DataFrame([e.as_dict() for e in estimates]),
        "summary": {k: v for k, v in cmp.items() if k != "strategies"},
        "providers_missing": missing,
    }


def summary_notes(res: dict[str, Any]) -> list[str]:
    """The estimate's headline sentences: the saving of the compared strategy, providers
    without a price, and whether figures extrapolate."""
    s, notes = res["summary"], []
    if s.get("savings_usd") is not None and s.get("compared_strategy"):
        notes.append(
            f"{s['compared_strategy']} against scratch: saves {interval_of(s, 'savings_usd')}, "
            f"ROI {number(s['roi'])}. Cheapest strategy: {s.get('best_strategy')}."
        )
    if res["providers_missing"]:
        notes.append("No price for this hardware at: " + ", ".join(res["providers_missing"]) + ".")
    if bool(res["strategies"]["extrapolation"].any()):
        notes.append(
            "Some figures extrapolate beyond the recorded runs the estimator learned from: "
            "their intervals are wider and less certain."
        )
    return notes


def _unless_scratch(r: dict[str, Any], key: str, text: str) -> str:
    return MISSING if r.get(key) is None or r["strategy"] == SCRATCH else text


def estimate_rows(strategies: pd.DataFrame) -> list[dict[str, str]]:
    """Per-strategy text rows: total cost with its 80% interval, GPU-hours, wall time, energy,
    savings and ROI against scratch, and where it is priced."""
    rows = []
    for r in strategies.to_dict("records"):
        rows.append(
            {
                "strategy": r["strategy"],
                "total": interval_of(r, "total_cost_usd"),
                "compute": interval_of(r, "cost_usd"),
                "labels": money(r.get("label_cost_usd") or None),
                "gpu_hours": interval_of(r, "gpu_hours", number),
                "wall_hours": interval_of(r, "wall_hours", number),
                "energy": interval_of(r, "energy_kwh", number),
                "savings": _unless_scratch(r, "savings_usd", money(r.get("savings_usd"))),
                "roi": _unless_scratch(r, "roi", number(r.get("roi"))),
                "where": f"{r.get('provider') or '-'} {r.get('instance_type') or ''}".strip(),
                "mfu": percent(r.get("mfu_assumed")),
                "extrapolation": "yes" if r.get("extrapolation") else "no",
            }
        )
    return rows
