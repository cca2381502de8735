"""How to forecast: the simulation's settings, the budget and the what-ifs, checked once."""

from __future__ import annotations

from dataclasses import dataclass

from costlens.budget.forecast.simulate import DEFAULT_SEED, DEFAULT_SIMS
from costlens.core import validate
from costlens.core.errors import UsageError
from costlens.core.vocab import TRANSFER_STRATEGIES

BUDGET_PERIODS = ("month", "total")


@dataclass(frozen=True)
class ForecastOptions:
    """Settings of :func:`costlens.budget.forecast.forecast`.

    ``n_sims`` Monte Carlo draws from ``seed`` (same seed, same figures); ``correlation`` in
    [0, 1] is a shared factor in every draw (use it when the estimator may be off in the same
    direction for every job). ``budget_usd`` applies per month (``budget_period="month"``) or to
    the whole plan (``"total"``). ``what_ifs`` runs the transfer (as ``transfer_strategy``) and
    cheapest-provider what-ifs.
    """

    n_sims: int = DEFAULT_SIMS
    seed: int = DEFAULT_SEED
    correlation: float = 0.0
    budget_usd: float | None = None
    budget_period: str = "month"
    transfer_strategy: str = "lora"
    what_ifs: bool = True

    def __post_init__(self) -> None:
        validate.seed(self.seed, "seed")
        validate.whole(self.n_sims, "n_sims", minimum=100)
        validate.number(self.correlation, "correlation")
        if self.budget_usd is not None:
            validate.number(self.budget_usd, "the budget")
        if self.n_sims < 100:
            raise UsageError(f"n_sims must be at least 100 (got {self.n_sims}).")
        if not 0 <= self.correlation <= 1:
            raise UsageError(f"correlation must be in [0, 1] (got {self.correlation}).")
        if self.budget_period not in BUDGET_PERIODS:
            raise UsageError(
                f"budget period must be 'month' or 'total' (got {self.budget_period!r})."
            )
        if self.budget_usd is not None and not self.budget_usd > 0:
            raise UsageError(f"the budget must be positive (got {self.budget_usd}).")
        if self.transfer_strategy not in TRANSFER_STRATEGIES:
            raise UsageError(
                f"transfer strategy {self.transfer_strategy!r} is not a transfer strategy; use "
                f"one of {', '.join(TRANSFER_STRATEGIES)}."
            )
