"""Budget forecasts: a plan of future training jobs -> cost per job, month and project.

A *plan* is user input: one planned job per row of a CSV file (or one ``[[job]]`` table of a TOML
file, or one item of a YAML list). :func:`load_plan` validates it whole and refuses a bad plan with
:class:`~costlens.errors.PlanError` naming the file, line and column (every problem found is listed
in the message and in ``PlanError.problems``).

Columns (units in brackets):

- required: ``name``, ``month`` (YYYY-MM), ``strategy`` (scratch | full-finetune | lora |
  frozen-features), ``params`` (model parameters; ``7B``, ``125M`` and ``1.3e9`` all work),
  ``tokens`` (training tokens of one epoch of one run), ``gpu`` (any name ``costlens gpus``
  knows), ``gpus`` (accelerators per run), ``provider`` (a provider of the price table, or ``any``
  for the cheapest), ``repeats`` (independent runs of this job, >= 1);
- optional: ``project``, ``samples`` (training examples, informational), ``epochs`` (passes over
  ``tokens``; default 1), ``instance`` (instance type), ``spot`` (true/false),
  ``trainable_fraction`` ((0, 1]; LoRA adapters or a frozen-features head),
  ``labelled_samples`` and ``usd_per_label`` (labelling cost, both or neither; bought once per
  job), ``precision`` (fp32 | tf32 | bf16 | fp16 | fp8; default bf16), ``transfer_tokens``
  (tokens the transfer what-if of a scratch job would train on; default: the job's own tokens).

How the forecast is made (:func:`forecast`):

1. Each job becomes an estimator ``Scenario`` (tokens = ``tokens * epochs``) and is priced by
   ``costlens.estimator.estimate_many``: expected compute cost, GPU-hours and energy per run, each
   with its 80% interval (10th and 90th percentiles).
2. Each run's compute cost, GPU-hours and energy is modelled as a two-piece lognormal whose 10th,
   50th and 90th percentiles are exactly the estimator's low, point and high figures (a plain
   lognormal fitted to low and high when the point lies outside them); the three share one
   standard-normal draw per run (a slow run is slow in all three). Labelling cost is fixed and
   counted once per job (its repeats reuse the labels). ``repeats`` are independent draws; jobs
   are independent unless ``correlation`` > 0 (a shared factor in every draw: use it when you
   suspect the estimator is off in the same direction for every job, which an independent
   simulation cannot show). Energy the estimator cannot give (no TDP for the accelerator) is
   left empty for the job and out of the sums (``energy_unknown_jobs`` counts such jobs).
3. ``n_sims`` Monte Carlo draws (seeded, so reruns give identical figures) are summed per month,
   project, month x project and in total; the low/high figures are the 10th/90th percentiles of
   those sums, never sums of bounds. Expected figures are exact means of the distributions.
   Each draw picks one of 65,536 equiprobable standard-normal quantiles (inverse-transform
   sampling from 16 random bits), which makes a run's value a table lookup (see :func:`simulate`;
   ``benchmarks/forecast_plan.py`` measures it against a naive loop).
4. What-ifs, on the same plan and the same random draws (so their savings have honest intervals):
   ``transfer``: every *eligible* scratch job (``strategy == "scratch"``; the assumption is that a
   pretrained base of the same size and architecture exists) is re-estimated with the transfer
   strategy (default ``lora`` with the job's ``trainable_fraction`` or the estimator's default)
   on ``transfer_tokens`` (default: the same tokens), same accelerator, provider and count.
   ``cheapest_provider``: every job is re-priced on the cheapest instance of the price table for
   its accelerator and count (spot when the job asks for spot), whatever the provider.
5. Against a budget (per month or in total) every month gets the simulated probability of going
   over; the months that go over are those whose expected cost exceeds the budget.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costlens.errors import (
    CostlensError,
    EstimatorError,
    PlanError,
    PriceNotFoundError,
    UnknownAcceleratorError,
)

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

REQUIRED_COLUMNS = (
    "name", "month", "strategy", "params", "tokens", "gpu", "gpus", "provider", "repeats",
)  # fmt: skip
OPTIONAL_COLUMNS = (
    "project", "samples", "epochs", "instance", "spot", "trainable_fraction", "labelled_samples",
    "usd_per_label", "precision", "transfer_tokens",
)  # fmt: skip
PLAN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# Agreed in CONTRACTS.md; the estimator's own tuples win when it is importable.
ANY_PROVIDER = ("any", "cheapest", "*")
DEFAULT_PROJECT = "unassigned"
DEFAULT_SIMS = 10_000
DEFAULT_SEED = 20_240_601
Z90 = 1.2815515655446004  # standard-normal 90th percentile: P10/P90 = median * exp(-/+ Z90 * sigma)
WHAT_IFS = ("transfer", "cheapest_provider")
_PROGRESS_BATCH = 2_000


@dataclass(frozen=True)
class PlannedJob:
    """One validated row of a plan. ``line`` is where it sits in the plan file."""

    name: str
    month: str
    strategy: str
    params: float
    tokens: float  # one epoch of one run
    gpu: str  # canonical accelerator key
    gpus: int
    provider: str | None  # None = cheapest
    repeats: int
    project: str = DEFAULT_PROJECT
    samples: float | None = None
    epochs: float = 1.0
    instance: str | None = None
    spot: bool = False
    trainable_fraction: float | None = None
    labelled_samples: float | None = None
    usd_per_label: float | None = None
    precision: str = "bf16"
    transfer_tokens: float | None = None
    line: int | None = None
    path: str | None = None

    @property
    def total_tokens(self) -> float:
        """Tokens one run trains on (``tokens * epochs``)."""
        return self.tokens * self.epochs


# --------------------------------------------------------------------------- plan loading


@dataclass
class _Problem:
    line: int | None
    column: str | None
    message: str

    def text(self) -> str:
        where = f"line {self.line}" if self.line is not None else ""
        if self.column:
            where = f"{where} column {self.column!r}" if where else f"column {self.column!r}"
        return f"{where}: {self.message}" if where else self.message


_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}
_NUMBER_RE = re.compile(
    r"^\s*([-+]?(?:\d[\d_,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([kKmMbBgGtT]?)\s*$"
)
_MONTH_RE = re.compile(r"^(\d{4})-(\d{1,2})$")
_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f", ""}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(value: Any) -> float:
    """A finite number from a cell: ``7B``, ``1.3e9``, ``2,000`` (raises ValueError)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        out = float(value)
    else:
        m = _NUMBER_RE.match(str(value))
        if not m:
            raise ValueError(f"expected a number (e.g. 7B, 1.5e9, 2000), got {value!r}")
        out = float(m.group(1).replace(",", "").replace("_", "")) * _SUFFIX.get(
            m.group(2).lower(), 1.0
        )
    if not math.isfinite(out):
        raise ValueError(f"expected a finite number, got {value!r}")
    return out


def _positive(value: Any) -> float:
    out = _number(value)
    if not out > 0:
        raise ValueError(f"must be positive, got {value!r}")
    return out


def _non_negative(value: Any) -> float:
    out = _number(value)
    if out < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return out


def _positive_int(value: Any) -> int:
    out = _number(value)
    if out != int(out):
        raise ValueError(f"expected a whole number, got {value!r}")
    if out < 1:
        raise ValueError(f"must be at least 1, got {value!r}")
    return int(out)


def _fraction(value: Any) -> float:
    out = _number(value)
    if not 0 < out <= 1:
        raise ValueError(f"must be in (0, 1], got {value!r}")
    return out


def _month(value: Any) -> str:
    text = value.isoformat()[:7] if hasattr(value, "isoformat") else str(value).strip()
    m = _MONTH_RE.match(text)
    if not m:
        raise ValueError(f"expected a month as YYYY-MM, got {value!r}")
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} of {text!r} is not 1-12")
    if not 1970 <= year <= 2200:
        raise ValueError(f"year {year} of {text!r} is not plausible")
    return f"{year:04d}-{month:02d}"


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _text(value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _choice(options: tuple[str, ...], what: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower().replace("_", "-")
        if text not in options:
            raise ValueError(f"unknown {what} {value!r}; use one of: {', '.join(options)}")
        return text

    return parse


class _Validator:
    """Turns raw cells into :class:`PlannedJob` rows, collecting every problem."""

    def __init__(self, path: str, prices: Any = None) -> None:
        self.path = path
        self.problems: list[_Problem] = []
        from costlens.catalog import PRECISIONS
        from costlens.estimator import STRATEGIES

        self.strategy = _choice(tuple(STRATEGIES), "strategy")
        self.precision = _choice(tuple(PRECISIONS), "precision")
        self._gpu_cache: dict[str, tuple[str | None, str | None]] = {}
        self._quote_cache: dict[tuple, str | None] = {}
        self._prices = prices
        self._providers: set[str] | None = None
        self._catalog_loaded = False

    # -- catalog lookups (cached: plans repeat the same few accelerators and providers)
    def _catalog(self):
        from costlens import catalog

        if not self._catalog_loaded:
            self._catalog_loaded = True
            if self._prices is None:
                self._prices = catalog.load_prices()
            self._providers = {str(p).lower() for p in self._prices["provider"].unique()}
        return catalog

    def gpu(self, value: Any) -> str:
        name = _text(value)
        if name not in self._gpu_cache:
            try:
                self._gpu_cache[name] = (self._catalog().resolve_gpu(name), None)
            except UnknownAcceleratorError as exc:
                self._gpu_cache[name] = (None, str(exc))
        key, error = self._gpu_cache[name]
        if error:
            raise ValueError(error)
        return key  # type: ignore[return-value]

    def provider(self, value: Any) -> str | None:
        text = _text(value).lower()
        if text in ANY_PROVIDER:
            return None
        self._catalog()
        if self._providers is not None and text not in self._providers:
            known = ", ".join(sorted(self._providers))
            raise ValueError(f"unknown provider {value!r}; use one of: {known}, or 'any'")
        return text

    def quote_problem(self, job: PlannedJob) -> str | None:
        """Why no price row fits this job (None when one does)."""
        catalog = self._catalog()
        key = (job.gpu, job.gpus, job.provider, job.instance, job.spot)
        if key not in self._quote_cache:
            try:
                catalog.cheapest_instance(
                    job.gpu,
                    job.gpus,
                    provider=job.provider,
                    spot=job.spot,
                    instance_type=job.instance,
                    prices=self._prices,
                )
                self._quote_cache[key] = None
            except (PriceNotFoundError, UnknownAcceleratorError) as exc:
                self._quote_cache[key] = str(exc)
        return self._quote_cache[key]

    # -- rows
    def row(self, cells: Mapping[str, Any], line: int | None) -> PlannedJob | None:
        parsers: dict[str, Callable[[Any], Any]] = {
            "name": _text,
            "month": _month,
            "strategy": self.strategy,
            "params": _positive,
            "tokens": _positive,
            "gpu": self.gpu,
            "gpus": _positive_int,
            "provider": self.provider,
            "repeats": _positive_int,
            "project": _text,
            "samples": _non_negative,
            "epochs": _positive,
            "instance": _text,
            "spot": _bool,
            "trainable_fraction": _fraction,
            "labelled_samples": _non_negative,
            "usd_per_label": _non_negative,
            "precision": self.precision,
            "transfer_tokens": _positive,
        }
        values: dict[str, Any] = {}
        ok = True
        for col, value in cells.items():
            if col not in parsers:
                continue  # unknown columns are reported once, with the header
            if _blank(value):
                if col in REQUIRED_COLUMNS:
                    self.problems.append(_Problem(line, col, "a value is required"))
                    ok = False
                continue
            try:
                values[col] = parsers[col](value)
            except ValueError as exc:
                self.problems.append(_Problem(line, col, str(exc)))
                ok = False
        for col in REQUIRED_COLUMNS:
            if col not in cells:
                self.problems.append(_Problem(line, col, "a value is required"))
                ok = False
        has_n, has_usd = "labelled_samples" in values, "usd_per_label" in values
        if has_n != has_usd:
            missing = "usd_per_label" if has_n else "labelled_samples"
            self.problems.append(
                _Problem(line, missing, "labelled_samples and usd_per_label go together")
            )
            ok = False
        if not ok:
            return None
        job = PlannedJob(**values, line=line, path=self.path)
        why = self.quote_problem(job)
        if why:
            column = "instance" if job.instance else "provider" if job.provider else "gpu"
            self.problems.append(_Problem(line, column, why))
            return None
        return job

    def header(self, columns: Sequence[str], line: int | None = 1) -> bool:
        ok = True
        seen: set[str] = set()
        for col in columns:
            if col in seen:
                self.problems.append(_Problem(line, col, "column given twice"))
                ok = False
            seen.add(col)
            if col not in PLAN_COLUMNS:
                self.problems.append(
                    _Problem(
                        line,
                        col,
                        f"unknown column; plan columns are {', '.join(REQUIRED_COLUMNS)} "
                        f"(required) and {', '.join(OPTIONAL_COLUMNS)} (optional)",
                    )
                )
                ok = False
        for col in REQUIRED_COLUMNS:
            if col not in seen:
                self.problems.append(_Problem(line, col, "required column is missing"))
                ok = False
        return ok

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        first = self.problems[0]
        message = first.message
        if len(self.problems) > 1:
            more = "; ".join(p.text() for p in self.problems[1:6])
            extra = len(self.problems) - 6
            tail = f"; and {extra} more" if extra > 0 else ""
            message = f"{message} (also: {more}{tail})"
        err = PlanError(message, path=self.path, line=first.line, column=first.column)
        err.problems = [(p.line, p.column, p.message) for p in self.problems]  # type: ignore[attr-defined]
        raise err


def _norm_col(name: Any) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


def _read_csv(path: Path, v: _Validator) -> list[PlannedJob]:
    jobs: list[PlannedJob] = []
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise PlanError(f"cannot read the plan: {exc.strerror}", path=str(path)) from exc
    with handle:
        reader = csv.reader(handle)
        header: list[str] | None = None
        header_line = 1
        try:
            for row in reader:
                if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
                    continue
                if header is None:
                    header = [_norm_col(c) for c in row]
                    header_line = reader.line_num
                    if not v.header(header, header_line):
                        v.raise_if_any()
                    continue
                line = reader.line_num
                if len(row) != len(header):
                    v.problems.append(
                        _Problem(
                            line,
                            None,
                            f"{len(row)} fields where the header has {len(header)}",
                        )
                    )
                    continue
                job = v.row(dict(zip(header, row, strict=True)), line)
                if job is not None:
                    jobs.append(job)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise PlanError(f"not a readable CSV file: {exc}", path=str(path)) from exc
    if header is None:
        raise PlanError(
            f"the plan is empty; it needs a header row with {', '.join(REQUIRED_COLUMNS)}",
            path=str(path),
        )
    return jobs


def _read_records(
    records: Any, lines: list[int | None], path: Path, v: _Validator
) -> list[PlannedJob]:
    if not isinstance(records, list):
        raise PlanError("expected a list of jobs (`jobs:` / [[job]])", path=str(path))
    jobs: list[PlannedJob] = []
    for i, rec in enumerate(records):
        line = lines[i] if i < len(lines) else None
        if not isinstance(rec, Mapping):
            v.problems.append(_Problem(line, None, "a job must be a table of column = value"))
            continue
        cells = {_norm_col(k): val for k, val in rec.items()}
        unknown = [c for c in cells if c not in PLAN_COLUMNS]
        for col in unknown:
            v.problems.append(
                _Problem(line, col, f"unknown column; plan columns are {', '.join(PLAN_COLUMNS)}")
            )
        job = v.row(cells, line)
        if job is not None and not unknown:
            jobs.append(job)
    return jobs


def _read_toml(path: Path, v: _Validator) -> list[PlannedJob]:
    try:
        import tomllib
    except ImportError as exc:  # Python 3.10
        raise PlanError("TOML plans need Python 3.11; use a CSV plan", path=str(path)) from exc
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"not valid TOML: {exc}", path=str(path)) from exc
    key = "job" if "job" in data else "jobs"
    lines = [i + 1 for i, raw in enumerate(text.splitlines()) if raw.strip() == f"[[{key}]]"]
    return _read_records(data.get(key, []), lines, path, v)


def _read_yaml(path: Path, v: _Validator) -> list[PlannedJob]:
    try:
        import yaml
    except ImportError as exc:
        raise PlanError("YAML plans need pyyaml; use a CSV plan", path=str(path)) from exc
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(f"not valid YAML: {exc}", path=str(path)) from exc
    if isinstance(data, Mapping):
        data = data.get("jobs", data.get("job"))
        if node is not None and hasattr(node, "value"):
            node = next((val for k, val in node.value if k.value in ("jobs", "job")), None)
    lines = [item.start_mark.line + 1 for item in getattr(node, "value", [])]
    return _read_records(data, lines, path, v)


def load_plan(path: str | Path, *, prices: Any = None) -> list[PlannedJob]:
    """Read and validate a plan file (``.csv``, ``.toml``, ``.yaml``/``.yml``).

    Raises :class:`PlanError` (file, line, column) when anything is wrong; nothing is returned
    for a partly valid plan. ``prices`` is a price table from ``catalog.load_prices`` (default:
    the shipped tables plus the user's overrides) used to check that every job can be priced.
    """
    path = Path(path)
    if not path.is_file():
        raise PlanError("no such plan file", path=str(path))
    v = _Validator(str(path), prices)
    suffix = path.suffix.lower()
    if suffix == ".toml":
        jobs = _read_toml(path, v)
    elif suffix in (".yaml", ".yml"):
        jobs = _read_yaml(path, v)
    else:
        jobs = _read_csv(path, v)
    v.raise_if_any()
    if not jobs:
        raise PlanError("the plan has no jobs", path=str(path))
    return jobs


def plan_fingerprint(path: str | Path) -> str:
    """sha256 (first 16 hex digits) of the plan file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


# --------------------------------------------------------------------------- estimation


def job_scenario(job: PlannedJob, **override: Any):
    """The estimator ``Scenario`` for one run of ``job`` (``override`` replaces fields)."""
    fields = {
        "params": job.params,
        "tokens": job.total_tokens,
        "strategy": job.strategy,
        "gpu": job.gpu,
        "gpus": job.gpus,
        "precision": job.precision,
        "provider": job.provider,
        "instance": job.instance,
        "spot": job.spot,
        "trainable_fraction": job.trainable_fraction,
        "labelled_samples": job.labelled_samples,
        "usd_per_label": job.usd_per_label,
    }
    from costlens.estimator import Scenario

    fields["epochs"] = job.epochs  # frozen-features: the frozen forward runs once per sample
    fields.update(override)
    return Scenario(**fields)


EstimateFn = Callable[..., list]
ProgressFn = Callable[[str, int, int], None]


def _default_estimate_fn() -> EstimateFn:
    from costlens.estimator import estimate_many

    return estimate_many


def _price_table(prices: Any) -> Any:
    """A PriceTable for the estimator from a price frame (``--prices``); transitional."""
    from costlens.catalog import PriceTable

    if isinstance(prices, PriceTable):
        return prices
    base = PriceTable.load()
    rows = prices.to_dict("records")
    for r in rows:
        r["vcpus"] = r["vcpus"] if r["vcpus"] == r["vcpus"] else None  # NaN -> None
    return PriceTable(rows, base.accelerators, base.electricity)


def _require_costs(jobs: Sequence[PlannedJob], dist: _Dist) -> None:
    """A job the estimator could not price (no price row) is a plan error at its line."""
    missing = [j for j, k in zip(jobs, dist.known["cost_usd"], strict=True) if not k]
    if missing:
        j = missing[0]
        raise PlanError(
            f"no price is known for job {j.name!r} ({j.gpus} x {j.gpu}); name a provider that "
            f"offers it, or add a row to a price file (--prices FILE)"
            + (f" ({len(missing) - 1} more such jobs)" if len(missing) > 1 else ""),
            path=j.path,
            line=j.line,
            column="provider",
        )


def _estimate_all(
    jobs: Sequence[PlannedJob],
    scenarios: Sequence[Any],
    estimate: Callable[[list], list],
    progress: ProgressFn | None,
    stage: str,
) -> list[Any]:
    """Estimates for ``scenarios`` (deduplicated; batched for progress). Errors name the job."""
    keys: dict[Any, int] = {}
    unique: list[Any] = []
    index: list[int] = []
    for s in scenarios:
        k = _scenario_key(s)
        if k not in keys:
            keys[k] = len(unique)
            unique.append(s)
        index.append(keys[k])
    out: list[Any] = []
    total = len(unique)
    for start in range(0, total, _PROGRESS_BATCH):
        batch = unique[start : start + _PROGRESS_BATCH]
        try:
            out.extend(estimate(batch))
        except (EstimatorError, PriceNotFoundError, UnknownAcceleratorError) as exc:
            _raise_for_job(jobs, scenarios, batch, estimate, exc)
        if progress:
            progress(stage, min(start + _PROGRESS_BATCH, total), total)
    if len(out) != total:
        raise EstimatorError(f"the estimator returned {len(out)} estimates for {total} scenarios")
    return [out[i] for i in index]


def _scenario_key(s: Any) -> Any:
    try:
        hash(s)
        return s
    except TypeError:
        return id(s)


def _raise_for_job(jobs, scenarios, batch, estimate, exc) -> None:
    """Find the first scenario of ``batch`` the estimator refuses and name its plan line."""
    for s in batch:
        try:
            estimate([s])
        except (EstimatorError, PriceNotFoundError, UnknownAcceleratorError) as one:
            for job, sc in zip(jobs, scenarios, strict=True):
                if sc is s or _scenario_key(sc) == _scenario_key(s):
                    column = "provider" if isinstance(one, PriceNotFoundError) else None
                    raise PlanError(
                        f"job {job.name!r} cannot be estimated: {one}",
                        path=job.path,
                        line=job.line,
                        column=column,
                    ) from one
            raise
    raise exc


# --------------------------------------------------------------------------- simulation


@dataclass
class _Dist:
    """Per-run two-piece lognormal of each simulated quantity, plus a fixed label cost.

    A run's value is ``median * exp(sigma * z)`` with ``sigma = sigma_lo`` for ``z < 0`` and
    ``sigma_hi`` for ``z >= 0``: its 10th, 50th and 90th percentiles are exactly the estimator's
    low, point and high figures (a plain lognormal when the point is their geometric mean).
    """

    median: dict[str, np.ndarray]  # quantity -> per job (0 = always zero)
    sigma_lo: dict[str, np.ndarray]
    sigma_hi: dict[str, np.ndarray]
    known: dict[str, np.ndarray]  # False where the estimator has no figure (e.g. energy, no TDP)
    label_usd: np.ndarray  # per job (labels are bought once, whatever the repeats), fixed

    def job_mean(self, q: str, repeats: np.ndarray) -> np.ndarray:
        """Expected value of each job, all its runs (and its labels) included."""
        out = self.mean(q) * repeats
        return out + self.label_usd if q == "cost_usd" else out

    def mean(self, q: str) -> np.ndarray:
        """Expected value of one run of each job (compute USD, GPU-hours or kWh; no labels)."""
        import numpy as np
        from scipy.special import ndtr

        s1, s2 = self.sigma_lo[q], self.sigma_hi[q]
        return self.median[q] * (np.exp(s1**2 / 2) * ndtr(-s1) + np.exp(s2**2 / 2) * ndtr(s2))

    def quantile(self, q: str, z: float) -> np.ndarray:
        import numpy as np

        sigma = self.sigma_lo[q] if z < 0 else self.sigma_hi[q]
        return self.median[q] * np.exp(sigma * z)


QUANTITIES = ("cost_usd", "gpu_hours", "energy_kwh")
_SUFFIXES = ("", "_low", "_high")
_EST_FIELDS = {  # quantity -> (point, low, high) Estimate attributes
    "cost_usd": ("cost_usd", "cost_usd_low", "cost_usd_high"),
    "gpu_hours": ("gpu_hours", "gpu_hours_low", "gpu_hours_high"),
    "energy_kwh": ("energy_kwh", "energy_kwh_low", "energy_kwh_high"),
}


def _fit(estimates: Sequence[Any]) -> _Dist:
    """Two-piece lognormal per run through each Estimate's (low, point, high) figures."""
    import numpy as np

    med: dict[str, np.ndarray] = {}
    s_lo: dict[str, np.ndarray] = {}
    s_hi: dict[str, np.ndarray] = {}
    known: dict[str, np.ndarray] = {}
    for q, (pt, lo, hi) in _EST_FIELDS.items():
        point = np.array([_num(getattr(e, pt)) for e in estimates], dtype=float)
        low = np.array([_num(getattr(e, lo)) for e in estimates], dtype=float)
        high = np.array([_num(getattr(e, hi)) for e in estimates], dtype=float)
        known[q] = np.isfinite(point) & (point >= 0)
        ok = known[q] & np.isfinite(low) & np.isfinite(high) & (low > 0) & (high >= low)
        inside = ok & (point > low) & (point < high)
        with np.errstate(divide="ignore", invalid="ignore"):
            lnlo = np.log(np.where(ok, low, 1.0))
            lnhi = np.log(np.where(ok, high, 1.0))
            lnpt = np.log(np.where(inside, point, 1.0))
        # the point inside the interval: it is the median; otherwise a plain lognormal
        centre = np.where(inside, lnpt, (lnlo + lnhi) / 2)
        s_lo[q] = np.where(ok, (centre - lnlo) / Z90, 0.0)
        s_hi[q] = np.where(ok, (lnhi - centre) / Z90, 0.0)
        # no usable interval (a zero figure, or no figure at all): the point value, fixed
        med[q] = np.where(ok, np.exp(centre), np.where(known[q], point, 0.0))
    # the estimator prices labels per scenario; a job buys them once (its repeats reuse them)
    label = np.array([_num(getattr(e, "label_cost_usd", 0.0)) for e in estimates], dtype=float)
    label = np.where(np.isfinite(label), np.maximum(label, 0.0), 0.0)
    return _Dist(med, s_lo, s_hi, known, label)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass
class _SimResult:
    """Sums of draws per group, each (n_groups, n_sims): ``groups[q]`` for the plan's quantities,
    ``alt_cost[name]`` for each alternative (what-if) plan's cost; per-job P10/P90 of the plan."""

    groups: dict[str, np.ndarray]
    alt_cost: dict[str, np.ndarray] = field(default_factory=dict)
    job_low: dict[str, np.ndarray] = field(default_factory=dict)
    job_high: dict[str, np.ndarray] = field(default_factory=dict)


GRID_SIZE = 65_536  # equiprobable standard-normal atoms a draw is taken from (see simulate)


@functools.lru_cache(maxsize=4)
def normal_grid(size: int = GRID_SIZE) -> np.ndarray:
    """The standard normal's quantiles at (k + 0.5) / size: ``size`` equiprobable atoms."""
    import numpy as np
    from scipy.special import ndtri

    return ndtri((np.arange(size) + 0.5) / size)


@dataclass
class _Output:
    """One simulated figure: per job, median and log-sds of a run, and a fixed once-per-job add."""

    median: np.ndarray
    sigma_lo: np.ndarray
    sigma_hi: np.ndarray
    fixed: np.ndarray | None = None


def _grid_draws(rng: np.random.Generator, rows: int, n_sims: int) -> np.ndarray:
    """(rows, n_sims) uniform indices into the normal grid (16 random bits each)."""
    import numpy as np

    n = rows * n_sims
    raw = rng.bit_generator.random_raw(-(-n // 4))
    return raw.view(np.uint16)[:n].reshape(rows, n_sims)


def simulate(
    dist: _Dist,
    repeats: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    *,
    alternatives: Mapping[str, _Dist] | None = None,
    n_sims: int = DEFAULT_SIMS,
    seed: int = DEFAULT_SEED,
    correlation: float = 0.0,
    job_quantiles: bool = True,
    progress: ProgressFn | None = None,
    stage: str = "simulating",
    chunk_elems: int = 2_000_000,
) -> _SimResult:
    """Monte Carlo sums per group for the plan ``dist`` (and the cost of each alternative plan).

    Every run of every job draws one standard normal per simulation, shared by its cost,
    GPU-hours and energy and by the same run in every alternative plan (common random numbers:
    differences between plans get honest intervals). A draw is one of :data:`GRID_SIZE`
    equiprobable normal quantiles picked uniformly at random (inverse-transform sampling from a
    16-bit uniform; a run's percentiles move by under 0.01%), so a run's
    ``median * exp(sigma * z)`` becomes a lookup in a table per distinct (sigma_lo, sigma_hi):
    several times faster than drawing normals and exponentiating (benchmarks/forecast_plan.py).
    With ``correlation`` rho each draw is ``sqrt(rho) * shared + sqrt(1 - rho) * own`` (computed
    directly, slower). Draws depend only on ``seed``, ``n_sims``, ``chunk_elems`` and the jobs'
    repeats and groups; runs are processed in chunks of about ``chunk_elems`` draws.
    """
    import numpy as np
    import scipy.sparse as sp

    n_jobs = len(repeats)
    alternatives = dict(alternatives or {})
    plan_outputs = [
        _Output(dist.median[q], dist.sigma_lo[q], dist.sigma_hi[q],
                dist.label_usd if q == "cost_usd" else None)
        for q in QUANTITIES
    ]  # fmt: skip
    alt_outputs = [
        _Output(d.median["cost_usd"], d.sigma_lo["cost_usd"], d.sigma_hi["cost_usd"], d.label_usd)
        for d in alternatives.values()
    ]
    outputs = plan_outputs + alt_outputs
    n_out = len(outputs)
    # jobs in group order: a chunk then touches few groups (cache-friendly sums)
    perm = np.argsort(group, kind="stable")
    reps = np.asarray(repeats)[perm]
    grp = np.asarray(group)[perm]
    med = np.stack([np.where(o.median > 0, o.median, 0.0)[perm] for o in outputs])
    # one lookup table per distinct (sigma_lo, sigma_hi): a table id per (output, job)
    sig = np.stack(
        [np.stack([o.sigma_lo[perm] for o in outputs]),
         np.stack([o.sigma_hi[perm] for o in outputs])], -1
    ).reshape(-1, 2)  # fmt: skip
    # (rounded to 1e-12: the same interval computed two ways must share its table)
    shapes, tid = np.unique(np.round(sig, 12), axis=0, return_inverse=True)
    tid = tid.reshape(n_out, n_jobs)
    n_tables = len(shapes)
    grid = normal_grid()
    tables: dict[int, np.ndarray] = {}

    def table(t: int) -> np.ndarray:
        if t not in tables:
            lo, hi = shapes[t]
            tables[t] = np.exp(np.where(grid < 0, lo * grid, hi * grid))
        return tables[t]

    shared = None
    if correlation > 0:
        shared = np.random.default_rng([seed, 1]).standard_normal(n_sims)
    a, b = math.sqrt(correlation), math.sqrt(max(1.0 - correlation, 0.0))
    rng = np.random.default_rng(seed)

    sums = np.zeros((n_out, n_groups, n_sims))
    run_start = np.concatenate(([0], np.cumsum(reps)))
    n_runs = int(run_start[-1])
    rows_per_chunk = max(1, chunk_elems // n_sims)
    n_q = 3 if job_quantiles else 0
    job_rel = [
        [np.exp(-Z90 * outputs[k].sigma_lo[perm]) * reps,  # exact for a single run
         np.exp(Z90 * outputs[k].sigma_hi[perm]) * reps]
        for k in range(n_q)
    ]  # fmt: skip
    rel_cache: dict[int, tuple[float, float]] = {}  # (table, repeats) -> P10, P90 of the sum

    job = 0
    while job < n_jobs:
        # whole jobs, about rows_per_chunk runs (a job is never split across chunks)
        stop = int(np.searchsorted(run_start, run_start[job] + rows_per_chunk, side="right")) - 1
        stop = min(max(stop, job + 1), n_jobs)
        r0, r1 = int(run_start[job]), int(run_start[stop])
        idx = _grid_draws(rng, r1 - r0, n_sims)
        local = np.arange(stop - job)
        # the (job, table) pairs this chunk needs, job-major
        used = med[:, job:stop] > 0
        used[0] = True  # every job has its plan-cost pair (never an empty chunk)
        keys_all = local * n_tables + tid[:, job:stop]
        pair_keys = np.unique(keys_all[used])
        p_job, p_tid = pair_keys // n_tables, pair_keys % n_tables
        p_rep = reps[job + p_job]
        per_pair = None
        for t in np.unique(p_tid):
            pt = np.flatnonzero(p_tid == t)  # this table's pairs, each with its job's runs
            n_rep = p_rep[pt]
            first = run_start[job + p_job[pt]] - r0
            rows = np.repeat(first - np.cumsum(n_rep) + n_rep, n_rep) + np.arange(n_rep.sum())
            whole = len(pt) == len(pair_keys) and len(rows) == r1 - r0
            block = _lookup(table(int(t)), idx, None if whole else rows, shapes[t], shared, a, b)
            if (n_rep > 1).any():  # add up each job's runs
                summer = sp.csr_matrix(
                    (np.ones(len(rows)), (np.repeat(np.arange(len(pt)), n_rep),
                                          np.arange(len(rows)))),
                    shape=(len(pt), len(rows)),
                )  # fmt: skip
                block = summer @ block
            if whole:
                per_pair = block
            else:
                if per_pair is None:
                    per_pair = np.empty((len(pair_keys), n_sims))
                per_pair[pt] = block
        # weighted sums into the groups this chunk touches (one sparse product for all outputs)
        g_local, g_of_job = np.unique(grp[job:stop], return_inverse=True)
        cols = np.searchsorted(pair_keys, keys_all)
        ok = med[:, job:stop] > 0
        o_idx, j_idx = np.nonzero(ok)
        weights = sp.csr_matrix(
            (med[:, job:stop][ok], (o_idx * len(g_local) + g_of_job[j_idx], cols[ok])),
            shape=(n_out * len(g_local), len(pair_keys)),
        )
        sums[:, g_local] += (weights @ per_pair).reshape(n_out, len(g_local), n_sims)
        # per-job P10/P90 of jobs with several runs: once per (table, repeats)
        for k in range(n_q):
            multi = np.flatnonzero((reps[job:stop] > 1) & ok[k])
            if not len(multi):
                continue
            ck = tid[k, job + multi] * (int(reps.max()) + 1) + reps[job + multi]
            for c, first_j in zip(*np.unique(ck, return_index=True), strict=True):
                if int(c) not in rel_cache:
                    row = per_pair[cols[k, multi[first_j]]]
                    p10, p90 = np.percentile(row, [10, 90])
                    rel_cache[int(c)] = (float(p10), float(p90))
            lo_hi = np.array([rel_cache[int(c)] for c in ck])
            job_rel[k][0][job + multi] = lo_hi[:, 0]
            job_rel[k][1][job + multi] = lo_hi[:, 1]
        job = stop
        if progress:
            progress(stage, r1, n_runs)

    res = _SimResult({})
    for o, out in enumerate(outputs):
        if out.fixed is not None:  # once per job (labels): a constant per group
            sums[o] += np.bincount(group, weights=out.fixed, minlength=n_groups)[:, None]
    inv = np.empty_like(perm)
    inv[perm] = np.arange(n_jobs)
    for k, q in enumerate(QUANTITIES):
        res.groups[q] = sums[k]
        if k < n_q:
            fixed = outputs[k].fixed if outputs[k].fixed is not None else 0.0
            res.job_low[q] = outputs[k].median * job_rel[k][0][inv] + fixed
            res.job_high[q] = outputs[k].median * job_rel[k][1][inv] + fixed
    for i, name in enumerate(alternatives):
        res.alt_cost[name] = sums[3 + i]
    return res


def _lookup(tab, idx, rows, shape, shared, a: float, b: float) -> np.ndarray:
    """exp(sigma * z) for the draws ``idx[rows]`` (all rows when None): a table lookup, or (with
    a shared factor) computed from z = a * shared + b * own."""
    import numpy as np

    sub = idx if rows is None else idx[rows]
    if shared is None:
        return tab[sub]
    z = normal_grid()[sub]
    z *= b
    z += a * shared
    lo, hi = shape
    return np.exp(np.where(z < 0, lo * z, hi * z))


# --------------------------------------------------------------------------- forecast


@dataclass
class Forecast:
    """A plan's forecast. DataFrames: ``jobs``, ``months``, ``projects``, ``month_projects``.

    Money in USD, GPU time in GPU-hours, energy in kWh; every figure has ``_low``/``_high``
    companions (10th/90th percentiles of the simulation).
    """

    jobs: pd.DataFrame
    months: pd.DataFrame
    projects: pd.DataFrame
    month_projects: pd.DataFrame
    total: dict[str, Any]
    what_ifs: dict[str, dict[str, Any]]
    budget: dict[str, Any] | None
    assumptions: dict[str, Any]

    @property
    def over_budget(self) -> list[dict[str, Any]]:
        """The months (or the total) whose expected cost exceeds the budget."""
        if not self.budget:
            return []
        return [row for row in self.budget["periods"] if row["over"]]

    def as_dict(self) -> dict[str, Any]:
        """One JSON-ready object (the ``--format json`` contract)."""
        return {
            **{f"total_{q}{s}": self.total[f"{q}{s}"] for q in QUANTITIES for s in _SUFFIXES},
            "jobs_count": self.total["jobs"],
            "runs_count": self.total["runs"],
            "energy_unknown_jobs": self.total["energy_unknown_jobs"],
            "months": _records(self.months),
            "projects": _records(self.projects),
            "month_projects": _records(self.month_projects),
            "jobs": _records(self.jobs),
            "what_ifs": self.what_ifs,
            "budget": self.budget,
            "assumptions": self.assumptions,
        }

    def write(self, path: str | Path) -> Path:
        """Write to ``path`` (.json, .csv or .xlsx), atomically."""
        from costlens.export import write

        return write(self, path)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: _plain(v) for k, v in rec.items()})
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _summaries(
    sim: _SimResult, dist: _Dist, repeats: np.ndarray, group: np.ndarray, n_groups: int
) -> dict[str, np.ndarray]:
    """Per group: expected (exact), low and high (simulated) of each quantity."""
    import numpy as np

    out: dict[str, np.ndarray] = {}
    for q in QUANTITIES:
        out[q] = np.bincount(group, weights=dist.job_mean(q, repeats), minlength=n_groups)
        out[f"{q}_low"], out[f"{q}_high"] = np.percentile(sim.groups[q], [10, 90], axis=1)
    return out


def _interval(draws: np.ndarray, expected: float) -> dict[str, float]:
    import numpy as np

    lo, hi = np.percentile(draws, [10, 90])
    return {"expected": float(expected), "low": float(lo), "high": float(hi)}


def forecast(
    plan: Sequence[PlannedJob] | str | Path,
    *,
    budget_usd: float | None = None,
    budget_period: str = "month",
    model: Any = None,
    n_sims: int = DEFAULT_SIMS,
    seed: int = DEFAULT_SEED,
    correlation: float = 0.0,
    transfer_strategy: str = "lora",
    prices: Any = None,
    what_ifs: bool = True,
    estimate_fn: EstimateFn | None = None,
    progress: ProgressFn | None = None,
) -> Forecast:
    """Forecast a plan (jobs from :func:`load_plan`, or a plan file path).

    ``budget_usd`` applies per month (``budget_period="month"``) or to the whole plan
    (``"total"``). ``model`` is passed to the estimator (default: its saved or prior-only model).
    ``estimate_fn(scenarios, model=...) -> list[Estimate]`` defaults to
    ``costlens.estimator.estimate_many``. ``progress(stage, done, total)`` is called as work goes.
    """
    import numpy as np
    import pandas as pd

    plan_path = None
    if isinstance(plan, (str, Path)):
        plan_path = str(plan)
        plan = load_plan(plan, prices=prices)
    jobs = list(plan)
    if not jobs:
        raise PlanError("the plan has no jobs", path=plan_path)
    if n_sims < 100:
        raise CostlensError(f"n_sims must be at least 100 (got {n_sims}).")
    if not 0 <= correlation <= 1:
        raise CostlensError(f"correlation must be in [0, 1] (got {correlation}).")
    if budget_period not in ("month", "total"):
        raise CostlensError(f"budget period must be 'month' or 'total' (got {budget_period!r}).")
    if budget_usd is not None and not budget_usd > 0:
        raise CostlensError(f"the budget must be positive (got {budget_usd}).")
    from costlens.estimator import STRATEGIES

    if transfer_strategy == "scratch" or transfer_strategy not in STRATEGIES:
        raise CostlensError(
            f"transfer strategy {transfer_strategy!r} is not a transfer strategy; use one of "
            f"{', '.join(s for s in STRATEGIES if s != 'scratch')}."
        )
    if estimate_fn is None:
        estimate_fn = _default_estimate_fn()
        if model is None:
            from costlens.estimator import load_model

            model = load_model()
    extra = {"prices": _price_table(prices)} if prices is not None else {}

    def estimate(batch: list) -> list:
        return list(estimate_fn(batch, model=model, **extra))

    scenarios = [job_scenario(j) for j in jobs]
    estimates = _estimate_all(jobs, scenarios, estimate, progress, "estimating distinct jobs")
    dist = _fit(estimates)
    _require_costs(jobs, dist)
    repeats = np.array([j.repeats for j in jobs], dtype=np.int64)

    # groups: (month, project) pairs; months, projects and the total are sums of pairs
    pairs = sorted({(j.month, j.project) for j in jobs})
    pair_idx = {p: i for i, p in enumerate(pairs)}
    group = np.array([pair_idx[(j.month, j.project)] for j in jobs], dtype=np.int64)
    months = sorted({p[0] for p in pairs})
    projects = sorted({p[1] for p in pairs})
    month_of_pair = np.array([months.index(p[0]) for p in pairs])
    project_of_pair = np.array([projects.index(p[1]) for p in pairs])

    # what-ifs: re-estimate the jobs they change, then simulate everything on the same draws
    alt: dict[str, tuple[_Dist, int, str]] = {}
    if what_ifs:
        for name, (changed, new_scen, note) in _what_if_scenarios(
            jobs, scenarios, transfer_strategy, prices, estimates
        ).items():
            new_est = list(estimates)
            if changed:
                sub = [jobs[i] for i in changed]
                got = _estimate_all(sub, new_scen, estimate, progress, f"what-if {name}")
                for i, e in zip(changed, got, strict=True):
                    new_est[i] = e
            alt_dist = _fit(new_est)
            _require_costs(jobs, alt_dist)
            alt[name] = (alt_dist, len(changed), note)

    sim = simulate(
        dist, repeats, group, len(pairs), alternatives={k: v[0] for k, v in alt.items()},
        n_sims=n_sims, seed=seed, correlation=correlation, progress=progress,
    )  # fmt: skip

    # --- jobs table
    jobs_df = _jobs_frame(jobs, estimates, dist, sim, repeats)

    # --- month, project, month x project, total
    def rollup(index: np.ndarray, n: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        onehot = np.zeros((n, len(pairs)))
        onehot[index, np.arange(len(pairs))] = 1.0
        draws = {q: onehot @ sim.groups[q] for q in QUANTITIES}
        gsim = _SimResult(draws)
        return _summaries(gsim, dist, repeats, index[group], n), draws

    month_sum, month_draws = rollup(month_of_pair, len(months))
    project_sum, _ = rollup(project_of_pair, len(projects))
    pair_sum = _summaries(sim, dist, repeats, group, len(pairs))
    total_draws = {q: sim.groups[q].sum(axis=0) for q in QUANTITIES}

    counts_m = _counts(jobs, lambda j: j.month)
    counts_p = _counts(jobs, lambda j: j.project)
    counts_mp = _counts(jobs, lambda j: (j.month, j.project))
    months_df = pd.DataFrame(
        {
            "month": months,
            "jobs": [counts_m[m][0] for m in months],
            "runs": [counts_m[m][1] for m in months],
            **{k: v for k, v in month_sum.items()},
        }
    )[_summary_columns("month")]
    projects_df = pd.DataFrame(
        {
            "project": projects,
            "jobs": [counts_p[p][0] for p in projects],
            "runs": [counts_p[p][1] for p in projects],
            **{k: v for k, v in project_sum.items()},
        }
    )[_summary_columns("project")]
    mp_df = pd.DataFrame(
        {
            "month": [p[0] for p in pairs],
            "project": [p[1] for p in pairs],
            "jobs": [counts_mp[p][0] for p in pairs],
            "runs": [counts_mp[p][1] for p in pairs],
            **{k: v for k, v in pair_sum.items()},
        }
    )[["month", *_summary_columns("project")]]
    total: dict[str, Any] = {
        "jobs": len(jobs),
        "runs": int(repeats.sum()),
        "energy_unknown_jobs": int((~dist.known["energy_kwh"]).sum()),
    }
    for q in QUANTITIES:
        iv = _interval(total_draws[q], float(dist.job_mean(q, repeats).sum()))
        total[q], total[f"{q}_low"], total[f"{q}_high"] = iv["expected"], iv["low"], iv["high"]

    # --- budget
    budget = None
    if budget_usd is not None:
        budget = _budget(
            budget_usd, budget_period, months_df, month_draws["cost_usd"], total,
            total_draws["cost_usd"],
        )  # fmt: skip
        months_df["budget_usd"] = budget_usd if budget_period == "month" else float("nan")
        months_df["p_over_budget"] = (
            [p["p_over_budget"] for p in budget["periods"]]
            if budget_period == "month"
            else float("nan")
        )

    # --- what-ifs (same draws: the savings' intervals are paired differences)
    whatifs: dict[str, dict[str, Any]] = {}
    for name, (alt_dist, n_changed, note) in alt.items():
        whatifs[name] = _what_if_summary(
            note, n_changed, alt_dist, sim.alt_cost[name], repeats, group, month_of_pair,
            months, total, total_draws["cost_usd"], month_sum,
        )  # fmt: skip

    assumptions = _assumptions(
        jobs, estimates, model, n_sims, seed, correlation, transfer_strategy, plan_path, prices
    )
    return Forecast(
        jobs=jobs_df,
        months=months_df,
        projects=projects_df,
        month_projects=mp_df,
        total=total,
        what_ifs=whatifs,
        budget=budget,
        assumptions=assumptions,
    )


def _counts(jobs: Iterable[PlannedJob], key: Callable[[PlannedJob], Any]) -> dict[Any, list[int]]:
    out: dict[Any, list[int]] = {}
    for j in jobs:
        c = out.setdefault(key(j), [0, 0])
        c[0] += 1
        c[1] += j.repeats
    return out


def _summary_columns(key: str) -> list[str]:
    cols = [key, "jobs", "runs"]
    for q in QUANTITIES:
        cols += [q, f"{q}_low", f"{q}_high"]
    return cols


JOB_COLUMNS = (
    "line", "name", "project", "month", "strategy", "params", "tokens", "gpu", "gpus", "precision",
    "provider", "instance_type", "spot", "usd_per_gpu_hour", "repeats",
    "cost_usd", "cost_usd_low", "cost_usd_high", "compute_cost_usd_per_run", "label_cost_usd",
    "gpu_hours", "gpu_hours_low", "gpu_hours_high", "energy_kwh", "energy_kwh_low",
    "energy_kwh_high", "energy_basis", "mfu_assumed", "extrapolation",
)  # fmt: skip


def _jobs_frame(jobs, estimates, dist: _Dist, sim: _SimResult, repeats) -> pd.DataFrame:
    import pandas as pd

    cols: dict[str, Any] = {
        "line": [j.line for j in jobs],
        "name": [j.name for j in jobs],
        "project": [j.project for j in jobs],
        "month": [j.month for j in jobs],
        "strategy": [j.strategy for j in jobs],
        "params": [j.params for j in jobs],
        "tokens": [j.total_tokens for j in jobs],
        "gpu": [j.gpu for j in jobs],
        "gpus": [j.gpus for j in jobs],
        "precision": [j.precision for j in jobs],
        "provider": [getattr(e, "provider", None) for e in estimates],
        "instance_type": [getattr(e, "instance_type", None) for e in estimates],
        "spot": [bool(getattr(e, "spot", j.spot)) for e, j in zip(estimates, jobs, strict=True)],
        "usd_per_gpu_hour": [_num(getattr(e, "usd_per_gpu_hour", None)) for e in estimates],
        "repeats": repeats,
    }
    import numpy as np

    for q in QUANTITIES:
        known = dist.known[q]  # unknown (energy without a TDP): NaN here, left out of sums
        cols[q] = np.where(known, dist.job_mean(q, repeats), np.nan)
        cols[f"{q}_low"] = np.where(known, sim.job_low[q], np.nan)
        cols[f"{q}_high"] = np.where(known, sim.job_high[q], np.nan)
        if q == "cost_usd":
            cols["compute_cost_usd_per_run"] = dist.mean(q)
            cols["label_cost_usd"] = dist.label_usd
    cols["mfu_assumed"] = [_num(getattr(e, "mfu_assumed", None)) for e in estimates]
    cols["extrapolation"] = [bool(getattr(e, "extrapolation", False)) for e in estimates]
    cols["energy_basis"] = [str(getattr(e, "energy_basis", "") or "") for e in estimates]
    return pd.DataFrame(cols)[list(JOB_COLUMNS)]


def _budget(budget_usd, period, months_df, month_cost_draws, total, total_cost_draws) -> dict:
    import numpy as np

    periods: list[dict[str, Any]] = []
    if period == "month":
        p_over = (month_cost_draws > budget_usd).mean(axis=1)
        for i, row in enumerate(months_df.itertuples(index=False)):
            periods.append(
                {
                    "month": row.month,
                    "cost_usd": float(row.cost_usd),
                    "cost_usd_low": float(row.cost_usd_low),
                    "cost_usd_high": float(row.cost_usd_high),
                    "budget_usd": float(budget_usd),
                    "p_over_budget": float(p_over[i]),
                    "over": bool(row.cost_usd > budget_usd),
                }
            )
    else:
        periods.append(
            {
                "month": "total",
                "cost_usd": total["cost_usd"],
                "cost_usd_low": total["cost_usd_low"],
                "cost_usd_high": total["cost_usd_high"],
                "budget_usd": float(budget_usd),
                "p_over_budget": float(np.mean(total_cost_draws > budget_usd)),
                "over": bool(total["cost_usd"] > budget_usd),
            }
        )
    over = [p["month"] for p in periods if p["over"]]
    return {
        "budget_usd": float(budget_usd),
        "period": period,
        "over_months": over,
        "periods": periods,
        "rule": "a period goes over when its expected cost exceeds the budget; p_over_budget is "
        "the share of simulations above the budget",
    }


def _what_if_scenarios(
    jobs, scenarios, transfer_strategy: str, prices, estimates=None
) -> dict[str, tuple]:
    """name -> (indices of changed jobs, their new scenarios, description). ``estimates``: the
    plan's own, so a job already on the cheapest instance does not count as changed."""
    transfer_idx, transfer_sc = [], []
    for i, j in enumerate(jobs):
        if j.strategy == "scratch":
            transfer_idx.append(i)
            transfer_sc.append(
                job_scenario(
                    j,
                    strategy=transfer_strategy,
                    tokens=(j.transfer_tokens or j.tokens) * j.epochs,
                )
            )
    transfer_note = (
        f"every scratch job (eligible: strategy 'scratch'; assumes a pretrained base of the same "
        f"size and architecture exists) re-estimated as '{transfer_strategy}' on its "
        f"transfer_tokens (default: the same tokens), same accelerator, count and provider"
    )
    cheap_idx, cheap_sc = [], []
    unpriced = 0
    quotes: dict[tuple, Any] = {}
    from costlens import catalog

    for i, (j, s) in enumerate(zip(jobs, scenarios, strict=True)):
        key = (j.gpu, j.gpus, j.spot)
        if key not in quotes:
            try:
                quotes[key] = catalog.cheapest_instance(j.gpu, j.gpus, spot=j.spot, prices=prices)
            except (PriceNotFoundError, UnknownAcceleratorError):
                quotes[key] = None
        q = quotes[key]
        if q is None:
            unpriced += 1
            continue
        current = (j.provider, j.instance)
        if estimates is not None:
            current = (estimates[i].provider, estimates[i].instance_type)
        if (q.provider, q.instance_type) == current:
            continue
        cheap_idx.append(i)
        cheap_sc.append(replace(s, provider=q.provider, instance=q.instance_type))
    cheap_note = (
        "every job re-priced on the cheapest instance of the price table for its accelerator and "
        "count (spot where the job asks for spot), any provider"
        + (f"; {unpriced} job(s) without such a price kept as planned" if unpriced else "")
    )
    return {
        "transfer": (transfer_idx, transfer_sc, transfer_note),
        "cheapest_provider": (cheap_idx, cheap_sc, cheap_note),
    }


def _what_if_summary(
    note, n_changed, dist, pair_draws, repeats, group, month_of_pair, months, base_total,
    base_total_draws, base_month_sum,
) -> dict[str, Any]:  # fmt: skip
    import numpy as np

    total_draws = pair_draws.sum(axis=0)
    job_cost = dist.job_mean("cost_usd", repeats)
    expected = float(job_cost.sum())
    iv = _interval(total_draws, expected)
    saving = _interval(base_total_draws - total_draws, base_total["cost_usd"] - expected)
    onehot = np.zeros((len(months), len(month_of_pair)))
    onehot[month_of_pair, np.arange(len(month_of_pair))] = 1.0
    month_draws = onehot @ pair_draws
    month_exp = np.bincount(month_of_pair[group], weights=job_cost, minlength=len(months))
    lo, hi = np.percentile(month_draws, [10, 90], axis=1)
    return {
        "description": note,
        "jobs_changed": n_changed,
        "total_cost_usd": iv["expected"],
        "total_cost_usd_low": iv["low"],
        "total_cost_usd_high": iv["high"],
        "savings_usd": saving["expected"],
        "savings_usd_low": saving["low"],
        "savings_usd_high": saving["high"],
        "months": [
            {
                "month": m,
                "cost_usd": float(month_exp[i]),
                "cost_usd_low": float(lo[i]),
                "cost_usd_high": float(hi[i]),
                "savings_usd": float(base_month_sum["cost_usd"][i] - month_exp[i]),
            }
            for i, m in enumerate(months)
        ],
    }


def _assumptions(
    jobs, estimates, model, n_sims, seed, correlation, transfer_strategy, plan_path, prices
) -> dict[str, Any]:
    from costlens import __version__

    used: dict[tuple, dict[str, Any]] = {}
    for j, e in zip(jobs, estimates, strict=True):
        key = (getattr(e, "provider", None), getattr(e, "instance_type", None), e.spot)
        if key not in used:
            used[key] = {
                "provider": key[0],
                "instance_type": key[1],
                "gpu": j.gpu,
                "spot": bool(key[2]),
                "usd_per_gpu_hour": _num(getattr(e, "usd_per_gpu_hour", None)),
            }
    price_rows = _price_provenance(list(used.values()), prices)
    mfu: dict[tuple, dict[str, Any]] = {}
    for j, e in zip(jobs, estimates, strict=True):
        key = (j.gpu, j.strategy, j.precision)
        if key not in mfu:
            mfu[key] = {
                "gpu": j.gpu,
                "strategy": j.strategy,
                "precision": j.precision,
                "mfu_assumed": _num(getattr(e, "mfu_assumed", None)),
            }
    return {
        "generated_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "costlens_version": __version__,
        "plan": plan_path,
        "plan_sha256": plan_fingerprint(plan_path) if plan_path else None,
        "estimator": _estimator_identity(model),
        "simulation": {
            "n_sims": n_sims,
            "seed": seed,
            "correlation": correlation,
            "distribution": "per run: two-piece lognormal whose 10th, 50th and 90th percentiles "
            "are the estimator's low, point and high figures for compute cost, GPU-hours and "
            "energy (one shared draw for the three); labelling cost fixed and counted once per "
            "job; repeats independent draws; intervals are 10th/90th percentiles of simulated "
            "sums",
            "expected": "exact means (sums of the per-run distributions' means)",
        },
        "transfer_strategy": transfer_strategy,
        "prices": price_rows,
        "mfu": sorted(mfu.values(), key=lambda r: (r["gpu"], r["strategy"], r["precision"])),
        "mfu_priors": _mfu_priors(model),
    }


def _price_provenance(used: list[dict[str, Any]], prices) -> list[dict[str, Any]]:
    """The price rows the forecast used, with their source and as-of date from the table."""
    try:
        from costlens import catalog

        table = prices if prices is not None else catalog.load_prices()
    except (ImportError, CostlensError):
        return used
    out = []
    for row in used:
        hit = table[
            (table["provider"].astype(str) == str(row["provider"]))
            & (table["instance_type"].astype(str) == str(row["instance_type"]))
        ]
        if len(hit):  # the region whose rate is the one used (the estimator takes the cheapest)
            usd = hit["spot_price_usd_hour"] if row["spot"] else hit["price_usd_hour"]
            per = usd / hit["gpu_count"].where(hit["gpu_count"] > 0, 1)
            exact = hit[(per - row["usd_per_gpu_hour"]).abs() <= 1e-9 * max(1.0, per.max())]
            hit = exact if len(exact) else hit
        extra: dict[str, Any] = {}
        if len(hit):
            first = hit.iloc[0]
            extra = {
                "region": _plain(first.get("region")),
                "gpu_count": _plain(first.get("gpu_count")),
                "source": _plain(first.get("source")),
                "as_of": _plain(first.get("as_of")),
            }
        out.append({**row, **extra})
    return sorted(out, key=lambda r: (str(r["provider"]), str(r["instance_type"])))


def _estimator_identity(model: Any) -> dict[str, Any]:
    try:
        from costlens import estimator
    except ImportError:
        estimator = None
    out: dict[str, Any] = {"model": type(model).__name__ if model is not None else None}
    for obj, names in (
        (estimator, ("__version__", "VERSION", "ESTIMATOR_VERSION")),
        (model, ("version", "version_", "fingerprint", "fingerprint_", "n_runs_", "fitted_on_")),
    ):
        for name in names:
            value = getattr(obj, name, None) if obj is not None else None
            if callable(value):
                try:
                    value = value()
                except Exception:  # an identity probe must never break a forecast
                    value = None
            if value is not None:
                out[name.strip("_")] = _plain(value) if not isinstance(value, dict) else value
    return out


def _mfu_priors(model: Any) -> list[dict[str, Any]]:
    """The estimator's MFU prior table, when it exposes one."""
    priors = getattr(model, "priors_", None)  # the table the model was built on
    if hasattr(priors, "to_dict"):
        return _records(priors)
    try:
        from costlens import estimator
    except ImportError:
        return []
    for name in ("mfu_priors", "load_mfu_priors", "load_priors"):
        fn = getattr(estimator, name, None)
        if callable(fn):
            try:
                table = fn()
            except Exception:  # informational only
                return []
            if hasattr(table, "to_dict"):
                return _records(table)
            if isinstance(table, list):
                return table
    return []


# --------------------------------------------------------------------------- writers


def write_json(fc: Forecast, path: str | Path) -> Path:
    """Write ``fc`` as JSON (temp name, then rename)."""
    from costlens.export import write_json as _w

    return _w(fc, path)


def write_csv(fc: Forecast, path: str | Path) -> Path:
    """Write ``fc`` as CSV (temp name, then rename)."""
    from costlens.export import write_csv as _w

    return _w(fc, path)


def write_xlsx(fc: Forecast, path: str | Path) -> Path:
    """Write ``fc`` as an XLSX workbook (temp name, then rename)."""
    from costlens.export import write_xlsx as _w

    return _w(fc, path)


__all__ = [
    "PLAN_COLUMNS",
    "REQUIRED_COLUMNS",
    "Forecast",
    "PlannedJob",
    "forecast",
    "job_scenario",
    "load_plan",
    "simulate",
    "write_csv",
    "write_json",
    "write_xlsx",
]
