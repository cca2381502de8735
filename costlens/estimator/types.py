"""What the estimator takes and gives: :class:`Scenario` (a job to price), :class:`Estimate`
(what it would cost) and :class:`Interval` (a figure with its interval).

:class:`TrainingJob` declares, once, the fields a Scenario and a plan's job
(``costlens.budget.plan.PlannedJob``) share, each with its one default.

Light on purpose (no numpy, pandas or scikit-learn): plans, forecasts and the dashboard build
scenarios and read estimates without loading the model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from costlens.core.errors import EstimatorError
from costlens.core.units import json_ready
from costlens.core.vocab import COVERAGE, DEFAULT_JOB_PRECISION

if TYPE_CHECKING:
    from costlens.price.tables import PriceTable


@dataclass(frozen=True, kw_only=True)
class TrainingJob:
    """A training job as a user describes it: the fields a :class:`Scenario` and a plan's job
    share, declared once with one default each (keyword-only).

    ``tokens``: training tokens (samples for models without tokens); a Scenario counts every
    epoch, a plan's job one epoch (its ``total_tokens`` counts them all). ``precision`` None:
    the accelerator's own (``vocab.DEFAULT_JOB_PRECISION``). ``epochs``: passes over the data
    (frozen-features: the frozen forward pass runs once per unique sample, cached).
    ``seq_len``: tokens per sample as trained (the attention term needs it).
    """

    params: float
    tokens: float
    strategy: str = "scratch"
    gpu: str = "A100-80GB"
    gpus: int = 1
    precision: str | None = DEFAULT_JOB_PRECISION
    provider: str | None = None  # None: the cheapest provider
    instance: str | None = None
    spot: bool = False
    trainable_fraction: float | None = None
    labelled_samples: float | None = None
    usd_per_label: float | None = None
    seq_len: float | None = None
    epochs: float = 1.0


@dataclass(frozen=True, kw_only=True)
class Scenario(TrainingJob):
    """One training job to price (the :class:`TrainingJob` fields, ``tokens`` counting every
    epoch), and what only the estimator takes: ``n_layers`` / ``d_model`` (the transformer's
    shape, for the attention term), ``tokens_per_step`` (per device, for the efficiency model;
    default: like the recorded runs), ``workload`` (a recorded script name).
    """

    n_layers: int | None = None
    d_model: int | None = None
    tokens_per_step: float | None = None
    workload: str | None = None
    optimizer: str = "adamw"  # its states' bytes per parameter: ``data/memory_bytes.csv``


class _Figures(NamedTuple):
    point: float
    low: float
    high: float
    level: float = COVERAGE


class Interval(_Figures):
    """A figure with its interval: ``point`` (the median), ``low`` and ``high`` (the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles: 10th and 90th percentile at
    ``level`` 0.8). NaN where the figure is unknown (dollars without a price row); the known
    bounds satisfy ``low <= point <= high`` (EstimatorError otherwise). Immutable (a named
    tuple: cheap enough for 10,000 estimates of five figures each)."""

    __slots__ = ()

    def __new__(cls, point: float, low: float, high: float, level: float = COVERAGE) -> Interval:
        # NaN compares False: an unknown figure passes, a known one must be ordered.
        if low > point or point > high or low > high:
            raise EstimatorError(
                f"an interval needs low <= point <= high (got {low}, {point}, {high})."
            )
        if not 0 < level < 1:
            raise EstimatorError(f"an interval's level must be in (0, 1) (got {level}).")
        return super().__new__(cls, point, low, high, level)

    def scaled(self, factor: float) -> Interval:
        """The interval of ``factor`` x the figure (a negative factor swaps the bounds)."""
        lo, hi = self.low * factor, self.high * factor
        return Interval(self.point * factor, *((lo, hi) if factor >= 0 else (hi, lo)), self.level)

    def shifted(self, offset: float) -> Interval:
        """The interval of the figure + ``offset`` (a fixed amount, e.g. labelling dollars)."""
        return Interval(self.point + offset, self.low + offset, self.high + offset, self.level)

    def flat(self, name: str) -> dict[str, float]:
        """``{name: point, name_low: low, name_high: high}``: the JSON keys of a figure."""
        return {name: self.point, f"{name}_low": self.low, f"{name}_high": self.high}


def flatten(obj: Any) -> dict[str, Any]:
    """A dataclass as a plain JSON-safe dict, in field order: each :class:`Interval` field
    ``x`` as ``x``, ``x_low``, ``x_high`` (its level is the estimate's, not repeated); NaN as
    None, numpy scalars plain Python. The one way estimates become JSON, CSV and tables."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        out.update(value.flat(f.name) if isinstance(value, Interval) else {f.name: value})
    return {k: json_ready(v) for k, v in out.items()}


INTERVAL_FIGURES = ("wall_hours", "gpu_hours", "cost_usd", "energy_kwh", "total_cost_usd")


@dataclass
class Estimate:
    """Every figure with its interval (:class:`Interval`; 80%: low = 10th, high = 90th
    percentile): ``wall_hours``, ``gpu_hours``, ``cost_usd`` (compute), ``energy_kwh`` and
    ``total_cost_usd`` (compute + labels; ``label_cost_usd`` is fixed).

    Dollar figures are NaN (``None`` in :meth:`as_dict`) when no price is known for the
    accelerator (e.g. a CPU without a price row); energy likewise without a TDP or measurement.
    """

    strategy: str
    flops: float
    wall_hours: Interval
    gpu_hours: Interval
    cost_usd: Interval
    energy_kwh: Interval
    label_cost_usd: float
    total_cost_usd: Interval
    mfu_assumed: float
    extrapolation: bool
    provider: str
    instance_type: str
    usd_per_gpu_hour: float
    spot: bool
    gpu: str = ""
    gpus: int = 1
    precision: str = ""
    flops_per_s_per_device: float = float("nan")
    energy_basis: str = ""
    efficiency_basis: str = ""
    # The instance priced on: GPUs per instance (more than ``gpus``: the whole instance is
    # billed), its $ per hour, and False where its price row is flagged UNCONFIRMED.
    instance_gpus: int = 0
    usd_per_instance_hour: float = float("nan")
    price_confirmed: bool = True
    model_flops: float = float("nan")  # FLOPs by the physics accounting (equals flops unless a
    # recorded run's measured FLOPs are the basis: ``estimate_from_run``)
    flops_basis: str = ""  # how ``flops`` was counted (formula, derived shape, measured basis)
    extrapolation_reason: str = ""  # why ``extrapolation`` (few published runs, out of range)
    # Does the job fit (``estimator.memory``): GB per GPU (states sharded over the GPUs plus
    # activations), False only when even sharding and full recomputation do not fit, the least
    # GPU count that fits (0: none), what was counted, and single-GPU instances flagged.
    memory_gb_per_gpu: float = float("nan")
    fits: bool = True
    min_gpus: int = 1
    memory_basis: str = ""
    single_gpu_instances: bool = False
    # ``gpu_hours`` is what a bill shows (published runs' hours, restarts and evaluation in);
    # ``gpu_hours_compute`` the compute alone: gpu_hours / ``billed_overhead``, the overhead
    # learned from the published rows that say what they include (1 where they cannot tell).
    gpu_hours_compute: float = float("nan")
    billed_overhead: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict (:func:`flatten`: ``cost_usd``, ``cost_usd_low``,
        ``cost_usd_high``, ...; NaN becomes None, numpy scalars plain Python)."""
        return flatten(self)


def data_tokens(
    tokens: float | None,
    samples: float | None,
    seq_len: float | None,
    epochs: float | None,
    packing: bool = False,
    *,
    flops_per_sample: float | None = None,
    params: float | None = None,
) -> dict[str, Any]:
    """The data a job trains on, as users describe it: ``tokens`` (every epoch counted), or
    ``samples x seq_len x epochs`` (``packing``: ``seq_len`` is the mean sample length, else the
    padded one), or, for a model without sequences, ``samples x epochs`` in token equivalents:
    one per sample (the forward pass uses each of the ``params`` once: 2N FLOPs), or
    ``flops_per_sample / (2 params)`` when the forward FLOPs of one sample are given (a CNN or
    ViT reuses its weights at every position). Returns {"tokens", "epochs", "tokens_basis"}
    ("tokens" None when neither is given); UsageError for a mix, a flag that would change
    nothing, or an incomplete description."""
    from costlens.core.errors import UsageError

    if tokens is not None:
        if samples is not None or epochs is not None or flops_per_sample is not None:
            raise UsageError(
                "tokens counts every epoch's tokens: give tokens, or samples (with seq_len or "
                "flops_per_sample) and epochs, not both."
            )
        if packing:
            raise UsageError(
                "packing says seq_len is the mean length of samples: it describes samples, "
                "not tokens (tokens are counted as given); drop it or give samples and seq_len."
            )
        return {"tokens": tokens, "epochs": None, "tokens_basis": "tokens"}
    if samples is None:
        if epochs is not None or packing or flops_per_sample is not None:
            raise UsageError(
                "epochs, packing and flops_per_sample describe samples: give samples too."
            )
        return {"tokens": None, "epochs": None, "tokens_basis": ""}
    if epochs is not None and not epochs > 0:
        raise UsageError(f"epochs must be positive (got {epochs}).")
    ep = 1.0 if epochs is None else float(epochs)
    if seq_len is None:
        return _samples_without_sequences(samples, ep, packing, flops_per_sample, params)
    if flops_per_sample is not None:
        raise UsageError(
            "seq_len counts a sample's FLOPs from its tokens; flops_per_sample gives them "
            "directly: give one of the two."
        )
    kind = "mean (packed)" if packing else "padded"
    basis = f"samples {samples:.4g} x seq_len {seq_len:g} ({kind}) x epochs {ep:g}"
    return {"tokens": samples * seq_len * ep, "epochs": ep, "tokens_basis": basis}


def _samples_without_sequences(
    samples: float, ep: float, packing: bool, flops_per_sample: float | None, params: float | None
) -> dict[str, Any]:
    """:func:`data_tokens` for a model without sequences: samples x epochs token equivalents."""
    from costlens.core.errors import UsageError

    if packing:
        raise UsageError("packing describes seq_len (the mean sample length): give seq_len too.")
    if flops_per_sample is None:
        basis = (
            f"samples {samples:.4g} x epochs {ep:g}, 2N forward FLOPs per sample (each parameter "
            "used once; a CNN or ViT reuses its weights: give flops_per_sample or seq_len)"
        )
        return {"tokens": samples * ep, "epochs": ep, "tokens_basis": basis}
    if not (flops_per_sample > 0) or params is None or not params > 0:
        raise UsageError("flops_per_sample needs a positive value and the model's params.")
    per = flops_per_sample / (2.0 * params)
    basis = (
        f"samples {samples:.4g} x epochs {ep:g} x {per:.4g} token equivalents "
        f"(forward {flops_per_sample:.4g} FLOPs per sample / 2N)"
    )
    return {"tokens": samples * ep * per, "epochs": ep, "tokens_basis": basis}


def price_table(prices: PriceTable | None) -> PriceTable:
    """``prices``, else the price table in force (shipped tables plus the user's file)."""
    if prices is not None:
        return prices
    from costlens.price.tables import PriceTable

    return PriceTable.load()
