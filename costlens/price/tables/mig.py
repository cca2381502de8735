"""MIG profiles (``data/mig_profiles.csv``): a slice's share of its GPU, dated and sourced.

A MIG slice gets ``compute_slices`` of the GPU's ``gpu_slices`` (the "Fraction of SMs" column of
NVIDIA's MIG User Guide: a 1g slice of an A100 is 1/7 of it). A run on slices is priced at that
share of the GPU's hour and its MFU is measured on that share of the GPU's peak. Validated whole:
a bad cell is a DataTableError naming the line and the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from costlens.core.errors import DataTableError
from costlens.core.paths import data_dir
from costlens.price.tables.rows import cell_date, cell_number, cell_text, file_stamp, read_rows

MIG_FILE = "mig_profiles.csv"
MIG_COLUMNS = ("gpu", "profile", "compute_slices", "gpu_slices", "source", "as_of")


@dataclass(frozen=True)
class MigProfile:
    gpu: str  # the accelerator key of gpu_specs.csv
    profile: str
    compute_slices: int
    gpu_slices: int
    source: str
    as_of: str

    @property
    def share(self) -> float:
        """The slice's share of its GPU (compute slices over the GPU's)."""
        return self.compute_slices / self.gpu_slices


def read_mig(path: Path) -> dict[tuple[str, str], MigProfile]:
    """(gpu key, profile) -> its row."""
    out: dict[tuple[str, str], MigProfile] = {}
    for line, row in read_rows(path, MIG_COLUMNS):
        gpu_slices = int(
            cell_number(row, "gpu_slices", path, line, integer=True, positive=True) or 1
        )
        compute = int(
            cell_number(row, "compute_slices", path, line, integer=True, positive=True) or 1
        )
        if compute > gpu_slices:
            raise DataTableError(
                f"{compute} compute slices of a GPU of {gpu_slices}", path=str(path), line=line,
                column="compute_slices",
            )  # fmt: skip
        p = MigProfile(
            gpu=cell_text(row, "gpu", path, line),
            profile=cell_text(row, "profile", path, line).lower(),
            compute_slices=compute,
            gpu_slices=gpu_slices,
            source=cell_text(row, "source", path, line),
            as_of=cell_date(row, "as_of", path, line),
        )
        out[(p.gpu, p.profile)] = p
    return out


@lru_cache(maxsize=4)
def _shipped(path: str, stamp: int) -> dict[tuple[str, str], MigProfile]:
    return read_mig(Path(path))


def shipped_mig() -> dict[tuple[str, str], MigProfile]:
    """The shipped table (re-read when the file changes); {} when it is absent."""
    path = data_dir() / MIG_FILE
    return _shipped(str(path), file_stamp(path)) if path.is_file() else {}
