"""A batch of :class:`Scenario` as column arrays, validated (the first impossible one named)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from costlens.core.errors import EstimatorError
from costlens.core.vocab import ESTIMABLE_STRATEGIES, PRECISIONS
from costlens.estimator.types import Scenario

FLOAT_FIELDS = (
    "params", "tokens", "trainable_fraction", "labelled_samples", "usd_per_label", "n_layers",
    "d_model", "seq_len", "tokens_per_step", "epochs",
)  # fmt: skip
TEXT_FIELDS = ("strategy", "gpu", "precision", "provider", "instance", "workload", "optimizer")


def scenario_columns(scenarios: Sequence[Scenario]) -> dict[str, np.ndarray]:
    """One array per Scenario field (None -> NaN in the numeric ones), checked by
    :func:`validate_columns`."""
    cols: dict[str, np.ndarray] = {}
    for name in FLOAT_FIELDS:
        cols[name] = np.array(
            [np.nan if (v := getattr(s, name)) is None else v for s in scenarios], dtype=float
        )
    for name in TEXT_FIELDS:
        cols[name] = np.array([getattr(s, name) for s in scenarios], dtype=object)
    cols["gpus"] = np.array([s.gpus for s in scenarios], dtype=float)
    cols["spot"] = np.array([bool(s.spot) for s in scenarios], dtype=bool)
    validate_columns(cols, len(scenarios))
    return cols


def validate_columns(c: dict[str, np.ndarray], n: int) -> None:
    """EstimatorError naming the field, the value and (in a batch) the scenario's number."""

    def bad(mask: np.ndarray, msg: str) -> None:
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            where = f" (scenario {i + 1} of {n})" if n > 1 else ""
            raise EstimatorError(msg.format(v=_show(c, msg, i)) + where)

    bad(~(c["params"] > 0), "params must be a positive number of parameters (got {v}).")
    bad(~(c["tokens"] >= 1), "tokens must be at least 1 token or sample (got {v}).")
    bad(~np.isin(c["strategy"], ESTIMABLE_STRATEGIES), "strategy {v} is unknown; choose one of "
        + ", ".join(ESTIMABLE_STRATEGIES) + ".")  # fmt: skip
    bad(~np.isin(c["precision"], PRECISIONS), "precision {v} is unknown; choose one of "
        + ", ".join(PRECISIONS) + ".")  # fmt: skip
    bad(~((c["gpus"] >= 1) & (c["gpus"] == np.floor(c["gpus"]))), "gpus must be a whole number "
        ">= 1 (got {v}).")  # fmt: skip
    from costlens.estimator.memory import OPTIMIZERS

    bad(~np.isin(c["optimizer"], OPTIMIZERS), "optimizer {v} is unknown; choose one of "
        + ", ".join(OPTIMIZERS) + ".")  # fmt: skip
    f = c["trainable_fraction"]
    bad(~np.isnan(f) & ~((f > 0) & (f <= 1)), "trainable_fraction must be in (0, 1] (got {v}).")
    for name in ("labelled_samples", "usd_per_label"):
        bad(c[name] < 0, name + " must not be negative (got {v}).")
    for name in ("n_layers", "d_model", "seq_len", "tokens_per_step", "epochs"):
        bad(c[name] <= 0, name + " must be positive (got {v}).")


def _show(c: dict[str, np.ndarray], msg: str, i: int) -> str:
    name = msg.split(" ", 1)[0]
    return repr(c[name][i].item() if hasattr(c[name][i], "item") else c[name][i])
