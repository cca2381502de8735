"""Published training runs (``data/published_runs.csv``): GPU-hours from papers, model cards and
official posts, each row with its source, ``as_of`` and a confidence note.

The estimator's cold start learns its efficiency from these rows (``costlens.estimator.coldstart``)
and the benchmark ``benchmarks/estimator_published.py`` checks it on them, leave-one-family-out.
The table is validated whole: a bad cell is a DataTableError naming the line and the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from costlens.core.errors import DataTableError, UnknownAcceleratorError, UsageError
from costlens.core.paths import data_dir
from costlens.core.vocab import ESTIMABLE_STRATEGIES, PRECISIONS
from costlens.price.tables.accelerators import Accelerators, shipped_accelerators
from costlens.price.tables.rows import cell_date, cell_number, cell_text, file_stamp, read_rows

PUBLISHED_FILE = "published_runs.csv"
PUBLISHED_COLUMNS: tuple[str, ...] = (
    "model", "family", "strategy", "params", "trainable_params", "tokens", "samples", "seq_len",
    "epochs", "gpu", "gpu_count", "gpu_hours", "published_as", "precision", "source", "as_of",
    "confidence", "includes",
)  # fmt: skip
# What a row's GPU-hours include (optional column ``includes``): "wall-clock" where the source
# gives GPUs x elapsed time or says restarts are in; "compute" where it counts steady-state
# compute only; "unknown" where it does not say.
INCLUDES = ("wall-clock", "compute", "unknown")


@dataclass(frozen=True)
class PublishedRun:
    """One published training run. ``tokens``: every token trained on (given, or samples x
    seq_len x epochs); ``gpu``: the canonical accelerator key; ``gpu_count`` None when the source
    does not say."""

    model: str
    family: str
    strategy: str
    params: float
    tokens: float
    gpu: str
    gpu_hours: float
    precision: str
    source: str
    as_of: str
    confidence: str
    gpu_count: int | None = None
    seq_len: float | None = None
    epochs: float | None = None
    trainable_params: float | None = None
    line: int = 0
    includes: str = "unknown"  # one of INCLUDES

    @property
    def trainable_fraction(self) -> float | None:
        """Trainable share of the parameters (LoRA / adapters); None when not given."""
        return None if self.trainable_params is None else self.trainable_params / self.params

    @property
    def fine_tune(self) -> bool:
        return self.strategy != "scratch"


def _row(row: dict[str, str], path: Path, line: int, acc: Accelerators) -> PublishedRun:
    def num(col: str, required: bool = False) -> float | None:
        return cell_number(row, col, path, line, required=required, positive=True)

    strategy = cell_text(row, "strategy", path, line)
    precision = cell_text(row, "precision", path, line)
    for col, value, allowed in (("strategy", strategy, ESTIMABLE_STRATEGIES),
                                ("precision", precision, PRECISIONS)):  # fmt: skip
        if value not in allowed:
            raise DataTableError(
                f"{value!r} is not one of {', '.join(allowed)}", path=str(path), line=line,
                column=col,
            )  # fmt: skip
    try:
        spec = acc.spec(cell_text(row, "gpu", path, line))
        spec.require_peak(precision)
    except (UnknownAcceleratorError, UsageError) as exc:
        raise DataTableError(str(exc), path=str(path), line=line, column="gpu") from None
    tokens, samples, seq_len, epochs = num("tokens"), num("samples"), num("seq_len"), num("epochs")
    if tokens is None:
        if samples is None or seq_len is None:
            raise DataTableError(
                "give tokens, or samples and seq_len", path=str(path), line=line, column="tokens"
            )
        tokens = samples * seq_len * (epochs or 1.0)
    count = cell_number(row, "gpu_count", path, line, required=False, integer=True, positive=True)
    return PublishedRun(
        model=cell_text(row, "model", path, line),
        family=cell_text(row, "family", path, line),
        strategy=strategy,
        params=num("params", required=True),  # type: ignore[arg-type]
        tokens=tokens,
        gpu=spec.key,
        gpu_hours=num("gpu_hours", required=True),  # type: ignore[arg-type]
        precision=precision,
        source=cell_text(row, "source", path, line),
        as_of=cell_date(row, "as_of", path, line),
        confidence=cell_text(row, "confidence", path, line),
        gpu_count=None if count is None else int(count),
        seq_len=seq_len,
        epochs=epochs,
        trainable_params=num("trainable_params"),
        line=line,
        includes=_includes(row, path, line),
    )


def _includes(row: dict[str, str], path: Path, line: int) -> str:
    value = (row.get("includes") or "unknown").strip().lower()
    if value not in INCLUDES:
        raise DataTableError(
            f"includes {value!r} must be one of {', '.join(INCLUDES)}",
            path=str(path), line=line, column="includes",
        )  # fmt: skip
    return value


def read_published_runs(
    path: str | Path, accelerators: Accelerators | None = None
) -> tuple[PublishedRun, ...]:
    """Every row of a published-runs table, validated (DataTableError: line and column)."""
    p = Path(path)
    acc = accelerators or shipped_accelerators()
    runs = tuple(_row(row, p, line, acc) for line, row in read_rows(p, PUBLISHED_COLUMNS))
    if not runs:
        raise DataTableError("the table has no rows", path=str(p))
    return runs


@lru_cache(maxsize=4)
def _shipped(path: str, stamp: int) -> tuple[PublishedRun, ...]:
    return read_published_runs(path)


def published_runs_path() -> Path:
    """The shipped table, ``data/published_runs.csv``."""
    return data_dir() / PUBLISHED_FILE


def published_runs() -> tuple[PublishedRun, ...]:
    """The shipped table, read once per version of the file."""
    p = published_runs_path()
    return _shipped(str(p), file_stamp(p))
