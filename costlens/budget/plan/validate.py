"""Validation of a whole plan: every problem found is collected with its line and column, then
one :class:`~costlens.core.errors.PlanError` names the file, the first problem's line and column,
and
lists the rest (all of them in ``PlanError.problems``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from costlens.budget.plan import cells
from costlens.budget.plan.schema import (
    ANY_PROVIDER,
    OPTIONAL_COLUMNS,
    PLAN_COLUMNS,
    REQUIRED_COLUMNS,
    PlannedJob,
)
from costlens.core.errors import PlanError, PriceNotFoundError, UnknownAcceleratorError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from costlens.price.tables import PriceTable


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a plan, where it is."""

    line: int | None
    column: str | None
    message: str

    def text(self) -> str:
        where = f"line {self.line}" if self.line is not None else ""
        if self.column:
            where = f"{where} column {self.column!r}" if where else f"column {self.column!r}"
        return f"{where}: {self.message}" if where else self.message


def norm_column(name: Any) -> str:
    """A header cell as a column name: ``Usd Per-Label`` -> ``usd_per_label``."""
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


class Validator:
    """Turns raw cells into :class:`PlannedJob` rows, collecting every problem.

    ``prices`` checks accelerators, providers and that each job has a price row.
    """

    def __init__(self, path: str, prices: PriceTable, max_jobs: int = 100_000) -> None:
        self.path = path
        self.prices = prices
        self.max_jobs = max_jobs  # the readers stop past it (readers.MAX_PLAN_JOBS)
        self.problems: list[Problem] = []
        self._providers = {str(r["provider"]).lower() for r in prices.rows}

    def add(self, line: int | None, column: str | None, message: str) -> None:
        self.problems.append(Problem(line, column, message))

    def gpu(self, value: Any, what: str = "gpu") -> str:
        try:
            return self.prices.resolve(cells.text(value))
        except UnknownAcceleratorError as exc:
            raise ValueError(str(exc)) from exc

    def provider(self, value: Any, what: str = "provider") -> str | None:
        name = cells.text(value).lower()
        if name in ANY_PROVIDER:
            return None
        if name not in self._providers:
            known = ", ".join(sorted(self._providers))
            raise ValueError(f"unknown provider {value!r}; use one of: {known}, or 'any'")
        return name

    def quote_problem(self, job: PlannedJob) -> str | None:
        """Why no price row fits this job (None when one does); the table memoises look-ups."""
        try:
            self.prices.cheapest(
                job.gpu, job.gpus, provider=job.provider, spot=job.spot,
                instance_type=job.instance,
            )  # fmt: skip
        except (PriceNotFoundError, UnknownAcceleratorError) as exc:
            return str(exc)
        return None

    def _parse(self, column: str, value: Any) -> Any:
        if column == "gpu":
            return self.gpu(value)
        if column == "provider":
            return self.provider(value)
        return cells.PARSERS[column](value, column)

    def row(self, row_cells: Mapping[str, Any], line: int | None) -> PlannedJob | None:
        """The job of one row, or None (its problems filed) when any cell is wrong."""
        values: dict[str, Any] = {}
        ok = True
        for col, value in row_cells.items():
            if col not in PLAN_COLUMNS:
                continue  # unknown columns are reported once, with the header
            if cells.blank(value):
                if col in REQUIRED_COLUMNS:
                    self.add(line, col, "a value is required")
                    ok = False
                continue
            try:
                values[col] = self._parse(col, value)
            except (ValueError, UsageError) as exc:
                self.add(line, col, str(exc).rstrip("."))
                ok = False
        for col in REQUIRED_COLUMNS:
            if col not in row_cells:
                self.add(line, col, "a value is required")
                ok = False
        has_n, has_usd = "labelled_samples" in values, "usd_per_label" in values
        if has_n != has_usd:
            missing = "usd_per_label" if has_n else "labelled_samples"
            self.add(line, missing, "labelled_samples and usd_per_label go together")
            ok = False
        ok = self._data_size(values, line) and ok
        if not ok:
            return None
        values.setdefault("precision", self.prices.spec(values["gpu"]).default_precision)
        job = PlannedJob(**values, line=line, path=self.path)
        why = self.quote_problem(job)
        if why:
            self.add(
                line, "instance" if job.instance else "provider" if job.provider else "gpu", why
            )
            return None
        return job

    def _data_size(self, values: dict[str, Any], line: int | None) -> bool:
        """``tokens`` from ``samples x seq_len`` when not given; a problem when neither is there
        or the two disagree (more than 1%)."""
        tokens = values.get("tokens")
        has_shape = "samples" in values and "seq_len" in values
        if tokens is None and not has_shape:
            self.add(line, "tokens", "give tokens, or samples and seq_len (tokens per sample)")
            return False
        if has_shape:
            product = values["samples"] * values["seq_len"]
            if tokens is not None and abs(tokens - product) > 0.01 * max(tokens, product):
                self.add(
                    line, "tokens", f"tokens {tokens:.4g} disagrees with samples x seq_len "
                    f"({product:.4g}); give one or the other",
                )  # fmt: skip
                return False
            values["tokens"] = product
        return True

    def header(self, columns: Sequence[str], line: int | None = 1) -> bool:
        """Check a header row: no repeats, no unknown columns, every required one present."""
        ok = True
        seen: set[str] = set()
        for col in columns:
            if col in seen:
                self.add(line, col, "column given twice")
                ok = False
            seen.add(col)
            if col not in PLAN_COLUMNS:
                self.add(
                    line,
                    col,
                    f"unknown column; plan columns are {', '.join(REQUIRED_COLUMNS)} "
                    f"(required) and {', '.join(OPTIONAL_COLUMNS)} (optional)",
                )
                ok = False
        for col in REQUIRED_COLUMNS:
            if col not in seen:
                self.add(line, col, "required column is missing")
                ok = False
        if "tokens" not in seen and not {"samples", "seq_len"} <= seen:
            self.add(line, "tokens", "required column is missing (or give samples and seq_len)")
            ok = False
        return ok

    def raise_if_any(self) -> None:
        """Raise one PlanError for every problem found so far (nothing when there is none)."""
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
