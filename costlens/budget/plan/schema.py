"""The plan's schema: its columns and one validated job (:class:`PlannedJob`).

A *plan* is user input: one planned job per row of a CSV or XLSX file (or one ``[[job]]`` table
of a TOML file, or one item of a YAML list). Columns (units in brackets):

- required: ``name``, ``month`` (YYYY-MM), ``strategy`` (scratch | full-finetune | lora |
  frozen-features), ``params`` (model parameters; ``7B``, ``125M`` and ``1.3e9`` all work),
  ``gpu`` (any name ``costlens gpus`` knows), ``gpus`` (accelerators per run), and the data:
  ``tokens`` (training tokens of one epoch of one run) or ``samples`` and ``seq_len`` (tokens =
  samples x seq_len per epoch, as fine-tunes are described);
- optional: ``provider`` (a provider of the price table; default, blank or ``any``: the cheapest),
  ``repeats`` (independent runs of this job, >= 1; default 1), ``project``, ``seq_len`` (tokens
  per sample as trained: the padded length, or the mean length with ``packing`` true),
  ``packing`` (true/false, default false), ``epochs`` (passes over the data; default 1),
  ``instance`` (instance type), ``spot`` (true/false), ``trainable_fraction`` ((0, 1]; LoRA
  adapters or a frozen-features head), ``labelled_samples`` and ``usd_per_label`` (labelling
  cost, both or neither; bought once per job), ``precision`` (fp32 | tf32 | bf16 | fp16 | fp8;
  default: the GPU's own, e.g. fp16 on a V100, bf16 on Ampere and newer), ``transfer_tokens``
  (tokens the transfer what-if of a scratch job would train on; default: the job's own tokens).

``docs/plans.md`` explains each column for people; ``costlens forecast --help`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

from costlens.core.vocab import DEFAULT_PLAN_PROJECT
from costlens.estimator.types import TrainingJob

REQUIRED_COLUMNS = ("name", "month", "strategy", "params", "gpu", "gpus")
OPTIONAL_COLUMNS = (
    "tokens", "provider", "repeats", "project", "samples", "seq_len", "packing", "epochs",
    "instance", "spot",
    "trainable_fraction", "labelled_samples", "usd_per_label", "precision", "transfer_tokens",
)  # fmt: skip
PLAN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
ANY_PROVIDER = ("any", "cheapest", "*")  # a provider cell meaning "the cheapest of any"


@dataclass(frozen=True, kw_only=True)
class PlannedJob(TrainingJob):
    """One validated row of a plan: the :class:`~costlens.estimator.types.TrainingJob` fields
    (their defaults are the estimator's; the reader requires the :data:`REQUIRED_COLUMNS`),
    ``tokens`` of one epoch of one run, and the plan's own columns. ``line`` is where it sits
    in the plan file."""

    name: str
    month: str
    repeats: int = 1
    project: str = DEFAULT_PLAN_PROJECT
    samples: float | None = None
    packing: bool = False
    transfer_tokens: float | None = None
    line: int | None = None
    path: str | None = None

    @property
    def total_tokens(self) -> float:
        """Tokens one run trains on (``tokens * epochs``)."""
        return self.tokens * self.epochs
