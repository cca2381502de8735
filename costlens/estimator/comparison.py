"""Every strategy side by side: savings, ROI and break-even of transfer learning versus scratch."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from costlens.core.units import finite_or_none
from costlens.core.vocab import ESTIMABLE_STRATEGIES
from costlens.estimator.persistence import load_model
from costlens.estimator.predict import estimate_many
from costlens.estimator.priors import default_trainable_fraction, load_priors
from costlens.estimator.runs import run_anchor_for, scenario_from_run
from costlens.estimator.types import Estimate, Scenario, price_table

if TYPE_CHECKING:
    import pandas as pd

    from costlens.estimator.model import CostModel
    from costlens.price.tables import PriceTable
    from costlens.store.models import RunRecord


def compare(
    s: Scenario,
    *,
    model: CostModel | None = None,
    prices: PriceTable | None = None,
    scratch_tokens: float | None = None,
    scratch_labelled_samples: float | None = None,
    log_eff_offset: float | None = None,
    tokens_by_strategy: Mapping[str, float | None] | None = None,
) -> dict[str, Any]:
    """Every strategy side by side, with savings_usd and roi of each transfer strategy vs scratch.

    roi = (scratch total - transfer total) / transfer total (totals = compute + labels).
    Scratch uses ``scratch_tokens`` / ``scratch_labelled_samples`` when given (training from
    scratch usually needs more data), else the scenario's. ``break_even_jobs``: if you must
    pretrain the base model yourself (at the scratch compute cost P), transfer pays back after
    P / (scratch total - transfer total) downstream jobs (None when transfer is not cheaper).
    Low/high of savings assume both strategies sit at the same efficiency percentile (same
    hardware and software), i.e. comonotone bounds. ``log_eff_offset`` shifts every strategy's
    log FLOP/s (``run_anchor_offset``: anchoring on a recorded run).

    ``tokens_by_strategy`` (equal quality, :mod:`costlens.estimator.to_target`): each listed
    strategy's own data; one mapped to None cannot reach the quality, so its row has no figures
    (never a number) and no savings, and nothing saves against a scratch that cannot reach it.
    """
    model = model if model is not None else load_model()
    priors = model.priors_ if hasattr(model, "priors_") else load_priors()
    scen = _strategy_scenarios(s, priors, scratch_tokens, scratch_labelled_samples)
    own = dict(tokens_by_strategy or {})
    scen = [dataclasses.replace(c, tokens=own.get(c.strategy) or c.tokens) for c in scen]
    offset = None if log_eff_offset is None else np.full(len(scen), float(log_eff_offset))
    ests = estimate_many(scen, model=model, prices=prices, log_eff_offset=offset)
    blank = {k for k, v in own.items() if v is None}
    scratch = None if "scratch" in blank else ests[0]
    rows = []
    for e, sc in zip(ests, scen, strict=True):
        d = {**e.as_dict(), "tokens": sc.tokens}  # the data each strategy is priced on
        if e.strategy in blank:
            d = {
                k: v if k == "strategy" or isinstance(v, bool | str) else None for k, v in d.items()
            }
        elif scratch is not None and e.strategy != "scratch":
            d.update(_savings(scratch, e))
        rows.append(d)
    pick = _compared_row(rows, "scratch" if s.strategy in blank else s.strategy)
    return {
        "strategies": rows,
        "compared_strategy": pick["strategy"] if pick else None,
        "savings_usd": pick.get("savings_usd") if pick else None,
        "savings_usd_low": pick.get("savings_usd_low") if pick else None,
        "savings_usd_high": pick.get("savings_usd_high") if pick else None,
        "roi": pick.get("roi") if pick else None,
        "break_even_jobs": pick.get("break_even_jobs") if pick else None,
        "best_strategy": min(
            (r for r in rows if r["total_cost_usd"] is not None),
            key=lambda r: r["total_cost_usd"],
            default={"strategy": None},
        )["strategy"],
    }


def compare_from_run(
    record: RunRecord,
    *,
    scale_tokens: float = 1.0,
    scale_params: float = 1.0,
    model: CostModel | None = None,
    prices: PriceTable | None = None,
    scratch_tokens: float | None = None,
    scratch_labelled_samples: float | None = None,
    tokens_by_strategy: Mapping[str, float | None] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """:func:`compare` for a recorded run scaled (see ``scenario_from_run``), every strategy
    anchored on the run's measured speed when it stays on the run's accelerator and precision."""
    prices = price_table(prices)
    model = model if model is not None else load_model()
    s = scenario_from_run(
        record, scale_tokens=scale_tokens, scale_params=scale_params, prices=prices, **overrides
    )
    return compare(
        s,
        model=model,
        prices=prices,
        scratch_tokens=scratch_tokens,
        scratch_labelled_samples=scratch_labelled_samples,
        log_eff_offset=run_anchor_for(record, s, model=model, prices=prices),
        tokens_by_strategy=tokens_by_strategy,
    )


def _strategy_scenarios(
    s: Scenario,
    priors: pd.DataFrame,
    scratch_tokens: float | None,
    scratch_labelled_samples: float | None,
) -> list[Scenario]:
    """``s`` once per strategy, scratch first; a strategy other than ``s``'s own gets the prior
    table's default trainable share."""
    scen = []
    for strat in ESTIMABLE_STRATEGIES:
        kw: dict[str, Any] = {"strategy": strat}
        if strat == "scratch":
            kw["tokens"] = scratch_tokens or s.tokens
            kw["labelled_samples"] = (
                scratch_labelled_samples
                if scratch_labelled_samples is not None
                else s.labelled_samples
            )
            kw["trainable_fraction"] = None
        elif strat == "full-finetune":
            kw["trainable_fraction"] = None
        elif strat != s.strategy or s.trainable_fraction is None:
            kw["trainable_fraction"] = default_trainable_fraction(strat, priors)
        scen.append(dataclasses.replace(s, **kw))
    return scen


def _compared_row(rows: list[dict[str, Any]], own_strategy: str) -> dict[str, Any] | None:
    """The scenario's own transfer strategy, else the transfer strategy that saves the most."""
    own = next((r for r in rows if r["strategy"] == own_strategy), None)
    if own is not None and own["strategy"] != "scratch":
        return own
    transfer = [r for r in rows if r["strategy"] != "scratch" and r.get("savings_usd") is not None]
    return max(transfer, key=lambda r: r["savings_usd"]) if transfer else None


def _savings(scratch: Estimate, t: Estimate) -> dict[str, Any]:
    f = finite_or_none
    s_total, t_total = scratch.total_cost_usd, t.total_cost_usd
    save = s_total.point - t_total.point
    roi = save / t_total.point if t_total.point > 0 else math.nan
    be = scratch.cost_usd.point / save if save > 0 else math.nan
    return {
        "savings_usd": f(save),
        "savings_usd_low": f(s_total.low - t_total.low),
        "savings_usd_high": f(s_total.high - t_total.high),
        "roi": f(roi),
        "break_even_jobs": f(be),
        "savings_gpu_hours": f(scratch.gpu_hours.point - t.gpu_hours.point),
    }
