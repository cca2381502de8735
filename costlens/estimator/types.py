"""What the estimator takes and gives: :class:`Scenario` (a job to price) and :class:`Estimate`.

Light on purpose (no numpy, pandas or scikit-learn): plans, forecasts and the dashboard build
scenarios and read estimates without loading the model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from costlens.core.units import json_ready

if TYPE_CHECKING:
    from costlens.price.tables import PriceTable


@dataclass(frozen=True)
class Scenario:
    """One training job to price. ``tokens``: tokens for language models, else samples x epochs.

    Trailing optional fields beyond the contract: ``tokens_per_step`` (per device, for the
    efficiency model; default: like the recorded runs), ``workload`` (a recorded script name),
    ``epochs`` (frozen-features: the frozen forward pass runs once per unique sample, cached).
    """

    params: float
    tokens: float
    strategy: str = "scratch"
    gpu: str = "A100-80GB"
    gpus: int = 1
    precision: str | None = None  # None: the accelerator's default (spec table)
    provider: str | None = None
    instance: str | None = None
    spot: bool = False
    trainable_fraction: float | None = None
    labelled_samples: float | None = None
    usd_per_label: float | None = None
    n_layers: int | None = None
    d_model: int | None = None
    seq_len: int | None = None
    tokens_per_step: float | None = None
    workload: str | None = None
    epochs: float | None = None


@dataclass
class Estimate:
    """Every figure with its 80% interval (low = 10th, high = 90th percentile).

    Dollar figures are NaN (``None`` in :meth:`as_dict`) when no price is known for the
    accelerator (e.g. a CPU without a price row); energy likewise without a TDP or measurement.
    """

    strategy: str
    flops: float
    wall_hours: float
    wall_hours_low: float
    wall_hours_high: float
    gpu_hours: float
    gpu_hours_low: float
    gpu_hours_high: float
    cost_usd: float
    cost_usd_low: float
    cost_usd_high: float
    energy_kwh: float
    energy_kwh_low: float
    energy_kwh_high: float
    label_cost_usd: float
    total_cost_usd: float
    total_cost_usd_low: float
    total_cost_usd_high: float
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

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict (NaN becomes None, numpy scalars plain Python)."""
        return {f.name: json_ready(getattr(self, f.name)) for f in dataclasses.fields(self)}


def data_tokens(
    tokens: float | None,
    samples: float | None,
    seq_len: float | None,
    epochs: float | None,
    packing: bool = False,
) -> dict[str, Any]:
    """The data a job trains on, as users describe it: ``tokens`` (every epoch counted), or
    ``samples x seq_len x epochs`` (``packing``: ``seq_len`` is the mean sample length, else the
    padded one). Returns {"tokens", "epochs", "tokens_basis"} ("tokens" None when neither is
    given); UsageError for a mix or an incomplete description."""
    from costlens.core.errors import UsageError

    if tokens is not None:
        if samples is not None or epochs is not None:
            raise UsageError(
                "tokens counts every epoch's tokens: give tokens, or samples with seq_len and "
                "epochs, not both."
            )
        return {"tokens": tokens, "epochs": None, "tokens_basis": "tokens"}
    if samples is None:
        if epochs is not None or packing:
            raise UsageError("epochs and packing describe samples: give samples too.")
        return {"tokens": None, "epochs": None, "tokens_basis": ""}
    if seq_len is None:
        raise UsageError(
            "samples needs seq_len (tokens per sample: the padded length, or the mean length "
            "with packing)."
        )
    if epochs is not None and not epochs > 0:
        raise UsageError(f"epochs must be positive (got {epochs}).")
    ep = 1.0 if epochs is None else float(epochs)
    kind = "mean (packed)" if packing else "padded"
    basis = f"samples {samples:.4g} x seq_len {seq_len:g} ({kind}) x epochs {ep:g}"
    return {"tokens": samples * seq_len * ep, "epochs": ep, "tokens_basis": basis}


def price_table(prices: PriceTable | None) -> PriceTable:
    """``prices``, else the price table in force (shipped tables plus the user's file)."""
    if prices is not None:
        return prices
    from costlens.price.tables import PriceTable

    return PriceTable.load()
