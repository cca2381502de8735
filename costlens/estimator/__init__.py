"""Predict what a training job will cost: physics for the FLOPs, a learned efficiency for the speed.

FLOPs come from documented per-strategy accounting (``costlens.core.physics.strategy_flops``, see
docs/estimator.md). Wall time = FLOPs / (per-device sustained FLOP/s x devices). The sustained
FLOP/s is what :class:`CostModel` (a scikit-learn regressor) learns from recorded runs, starting
from the dated prior table ``data/mfu_priors.csv`` (typical MFU per accelerator family; measured
FLOP/s for CPUs). Every figure comes with an 80% interval (10th..90th percentile) from conformal
calibration on leave-one-out residuals, widened outside the recorded runs' ranges
(``extrapolation=True``). Prices come from a :class:`~costlens.price.tables.PriceTable` passed as
``prices`` (default: the table in force).

One job per module: ``types`` (Scenario, Estimate), ``priors`` (the prior table), ``features``
(the model's inputs), ``coldstart`` (ColdStart: MFU learned from published runs, the prior
before any run is recorded), ``model`` (CostModel), ``training`` (recorded runs as training data),
``persistence`` (save / load), ``scenarios`` (a batch as validated arrays), ``predict``
(vectorised estimates), ``runs`` (scaling a recorded run), ``comparison`` (strategies side by
side). The modules that need pandas or scikit-learn load when one of their names is first used,
so ``from costlens.estimator import Scenario`` stays light. No torch: this is the analysis path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from costlens.core.lazy import lazy_exports
from costlens.core.physics import strategy_flops
from costlens.core.vocab import COVERAGE, ESTIMABLE_STRATEGIES, PRECISIONS
from costlens.estimator.persistence import (
    MODEL_FILE,
    ModelWarning,
    load_model,
    model_path,
    read_saved,
    save_model,
    saved_model,
)
from costlens.estimator.priors import (
    PRIORS_FILE,
    default_trainable_fraction,
    load_priors,
    priors_path,
)
from costlens.estimator.training import (
    fit_records,
    model_flops,
    prior_model,
    run_accelerator,
    run_devices,
    runs_fingerprint,
    training_frame,
    usable_runs,
)
from costlens.estimator.types import Estimate, Scenario, data_tokens

if TYPE_CHECKING:
    from costlens.estimator.coldstart import ColdStart
    from costlens.estimator.comparison import compare, compare_from_run
    from costlens.estimator.features import FEATURES
    from costlens.estimator.model import ALPHA_GRID, MIN_CALIBRATION_RUNS, CostModel
    from costlens.estimator.predict import estimate, estimate_many
    from costlens.estimator.runs import (
        estimate_from_run,
        run_anchor_for,
        run_anchor_offset,
        scenario_from_run,
    )

# The strategies the estimator prices (``costlens.core.vocab.STRATEGIES`` adds "other").
STRATEGIES = ESTIMABLE_STRATEGIES

# Names whose modules import pandas / scikit-learn: loaded on first use (PEP 562). A pickle that
# names ``costlens.estimator.CostModel`` (every saved model) resolves through here too.
_LAZY: dict[str, str] = {
    "ALPHA_GRID": "model",
    "CostModel": "model",
    "ColdStart": "coldstart",
    "MIN_CALIBRATION_RUNS": "model",
    "FEATURES": "features",
    "estimate": "predict",
    "estimate_many": "predict",
    "estimate_from_run": "runs",
    "run_anchor_for": "runs",
    "run_anchor_offset": "runs",
    "scenario_from_run": "runs",
    "compare": "comparison",
    "compare_from_run": "comparison",
}

__getattr__ = lazy_exports(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "ALPHA_GRID",
    "COVERAGE",
    "FEATURES",
    "MIN_CALIBRATION_RUNS",
    "MODEL_FILE",
    "PRECISIONS",
    "PRIORS_FILE",
    "STRATEGIES",
    "ColdStart",
    "CostModel",
    "Estimate",
    "ModelWarning",
    "Scenario",
    "compare",
    "compare_from_run",
    "data_tokens",
    "default_trainable_fraction",
    "estimate",
    "estimate_from_run",
    "estimate_many",
    "fit_records",
    "load_model",
    "load_priors",
    "model_flops",
    "model_path",
    "prior_model",
    "priors_path",
    "read_saved",
    "run_accelerator",
    "run_anchor_for",
    "run_anchor_offset",
    "run_devices",
    "runs_fingerprint",
    "save_model",
    "saved_model",
    "scenario_from_run",
    "strategy_flops",
    "training_frame",
    "usable_runs",
]
