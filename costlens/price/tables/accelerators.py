"""Accelerator specs (``data/gpu_specs.csv``) and names (``data/gpu_aliases.csv``).

:class:`Accelerators` holds both tables, validated whole, and resolves any name people or NVML
write (``NVIDIA H100 80GB HBM3``, ``h100``, ``A100-80GB``) to one key. The shipped tables are
package data: :func:`shipped_accelerators` loads them once per file version.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costlens.core.errors import DataTableError, UnknownAcceleratorError, UsageError
from costlens.core.paths import data_dir
from costlens.core.units import TFLOPS
from costlens.core.vocab import CPU_KEY, DEFAULT_PRECISION, PRECISIONS
from costlens.price.tables.rows import cell_date, cell_number, cell_text, file_stamp, read_rows

if TYPE_CHECKING:
    import pandas

SPECS_FILE = "gpu_specs.csv"
ALIASES_FILE = "gpu_aliases.csv"
SPEC_COLUMNS: tuple[str, ...] = (
    "key",
    "vendor",
    "memory_gb",
    "mem_bw_gbs",
    "tdp_w",
    *(f"{p}_tflops" for p in PRECISIONS),
    "default_precision",
    "source",
    "as_of",
)
ALIAS_COLUMNS: tuple[str, ...] = ("alias", "key", "source", "as_of")

# When a precision has no tabulated peak, the rate the hardware would really run it at:
# tf32 math without TF32 units runs at the fp32 rate; bf16 without bf16 units falls back to fp32
# (fp16 would be a different numeric format); fp8 without fp8 units runs as fp16/bf16.
_FALLBACK: dict[str, tuple[str, ...]] = {
    "fp32": (),
    "tf32": ("fp32",),
    "bf16": ("fp32",),
    "fp16": ("fp32",),
    "fp8": ("bf16", "fp16"),
}
_VENDOR_PREFIXES = ("nvidia", "tesla", "geforce", "amd", "instinct", "google")


@dataclass(frozen=True)
class GpuSpec:
    """One accelerator's datasheet figures. ``peak_flops_per_s`` maps precision -> dense FLOP/s."""

    key: str
    vendor: str
    memory_gb: float | None
    mem_bw_gbs: float | None
    tdp_w: float | None
    peak_flops_per_s: dict[str, float] = field(default_factory=dict, hash=False, compare=False)
    source: str = ""
    as_of: str = ""
    note: str = ""
    default_precision: str = DEFAULT_PRECISION
    architecture: str = ""  # the vendor's generation name (Volta, Ampere, Hopper, CDNA 3...)

    @property
    def precisions(self) -> tuple[str, ...]:
        """The precisions with a tabulated peak, in :data:`~costlens.core.vocab.PRECISIONS`
        order."""
        return tuple(p for p in PRECISIONS if p in self.peak_flops_per_s)

    def require_peak(self, precision: str | None) -> float:
        """Dense peak FLOP/s at ``precision`` (None: the accelerator's default precision), with
        no fallback. UsageError naming the precisions it has when it has no such units."""
        prec = (precision or self.default_precision).lower()
        if prec in self.peak_flops_per_s:
            return self.peak_flops_per_s[prec]
        has = ", ".join(self.precisions) or "none tabulated"
        raise UsageError(
            f"{self.key} has no {prec} peak (it has: {has}); choose one of those with --precision."
        )

    def peak_for(self, precision: str | None) -> float | None:
        """Dense peak FLOP/s at ``precision`` (fallbacks: tf32->fp32, fp8->bf16/fp16); None if
        the table has no figure (e.g. CPU, or an accelerator without sourced peaks)."""
        prec = (precision or DEFAULT_PRECISION).lower()
        if prec in self.peak_flops_per_s:
            return self.peak_flops_per_s[prec]
        for alt in _FALLBACK.get(prec, ("fp32",)):
            if alt in self.peak_flops_per_s:
                return self.peak_flops_per_s[alt]
        return None

    def as_dict(self) -> dict[str, Any]:
        """A flat record (FLOP/s per precision as ``peak_<prec>_flops_per_s``)."""
        out: dict[str, Any] = {
            "key": self.key,
            "vendor": self.vendor,
            "memory_gb": self.memory_gb,
            "mem_bw_gbs": self.mem_bw_gbs,
            "tdp_w": self.tdp_w,
        }
        for p in PRECISIONS:
            out[f"peak_{p}_flops_per_s"] = self.peak_flops_per_s.get(p)
        out["default_precision"] = self.default_precision
        out["architecture"] = self.architecture
        out.update(source=self.source, as_of=self.as_of, note=self.note)
        return out


def normalize_name(name: str) -> str:
    """Lower case, letters and digits only: ``A100-80GB`` -> ``a10080gb``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _strip_vendor(n: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in _VENDOR_PREFIXES:
            if n.startswith(p) and len(n) > len(p):
                n = n[len(p) :]
                changed = True
    return n


def _read_specs(path: Path) -> tuple[GpuSpec, ...]:
    specs: list[GpuSpec] = []
    seen: dict[str, int] = {}
    for line, row in read_rows(path, SPEC_COLUMNS):
        key = cell_text(row, "key", path, line)
        if normalize_name(key) in seen:
            raise DataTableError(
                f"duplicate accelerator key {key!r} (first on line {seen[normalize_name(key)]})",
                path=str(path),
                line=line,
                column="key",
            )
        seen[normalize_name(key)] = line
        peaks = {}
        for prec in PRECISIONS:
            v = cell_number(row, f"{prec}_tflops", path, line, required=False, positive=True)
            if v is not None:
                peaks[prec] = v * TFLOPS
        default = _default_precision(row, peaks, key, path, line)
        specs.append(
            GpuSpec(
                key=key,
                vendor=cell_text(row, "vendor", path, line),
                memory_gb=cell_number(row, "memory_gb", path, line, required=False),
                mem_bw_gbs=cell_number(row, "mem_bw_gbs", path, line, required=False),
                tdp_w=cell_number(row, "tdp_w", path, line, required=False),
                peak_flops_per_s=peaks,
                source=cell_text(row, "source", path, line),
                as_of=cell_date(row, "as_of", path, line),
                note=row.get("note", ""),
                default_precision=default,
                architecture=row.get("architecture", "").strip(),
            )
        )
    if not any(s.key == CPU_KEY for s in specs):
        raise DataTableError(f"the spec table must have a {CPU_KEY!r} row", path=str(path))
    return tuple(specs)


def _default_precision(
    row: dict[str, str], peaks: dict[str, float], key: str, path: Path, line: int
) -> str:
    """The row's ``default_precision``: a known precision with a peak on that row (CPU: fp32)."""
    value = cell_text(row, "default_precision", path, line).lower()
    if value not in PRECISIONS or (key != CPU_KEY and value not in peaks):
        raise DataTableError(
            f"default_precision {value!r} must be one of the row's tabulated precisions "
            f"({', '.join(p for p in PRECISIONS if p in peaks) or 'none'})",
            path=str(path), line=line, column="default_precision",
        )  # fmt: skip
    return value


def _read_aliases(path: Path, keys: set[str]) -> list[tuple[str, str]]:
    """(alias as written, key) pairs, every key checked against the spec table."""
    out: list[tuple[str, str]] = []
    if not path.is_file():
        return out
    names = {normalize_name(k): k for k in keys}
    for line, row in read_rows(path, ALIAS_COLUMNS):
        alias = cell_text(row, "alias", path, line)
        key = cell_text(row, "key", path, line)
        cell_text(row, "source", path, line)
        cell_date(row, "as_of", path, line)
        if key not in keys:
            raise DataTableError(
                f"alias {alias!r} points to {key!r}, which is not in {SPECS_FILE}",
                path=str(path),
                line=line,
                column="key",
            )
        n = normalize_name(alias)
        if n in names and names[n] != key:
            raise DataTableError(
                f"alias {alias!r} already means {names[n]!r}", path=str(path), line=line,
                column="alias",
            )  # fmt: skip
        names[n] = key
        out.append((alias, key))
    return out


class Accelerators:
    """The spec table and its names, validated whole. Immutable once built (thread-safe)."""

    def __init__(self, specs: tuple[GpuSpec, ...], aliases: list[tuple[str, str]]) -> None:
        self.specs = specs
        self._by_key = {s.key: s for s in specs}
        names: dict[str, str] = {normalize_name(s.key): s.key for s in specs}
        names.update((normalize_name(alias), key) for alias, key in aliases)
        self._names = names
        self.display_names = [s.key for s in specs] + [a for a, _ in aliases]

    @classmethod
    def load(cls, specs_path: Path, aliases_path: Path) -> Accelerators:
        specs = _read_specs(specs_path)
        return cls(specs, _read_aliases(aliases_path, {s.key for s in specs}))

    def suggest(self, name: str, n: int = 5) -> list[str]:
        """The known names closest to ``name`` (difflib), best first."""
        by_norm: dict[str, str] = {}
        for d in self.display_names:
            by_norm.setdefault(normalize_name(d), d)
        target = _strip_vendor(normalize_name(name)) or normalize_name(name)
        close = difflib.get_close_matches(target, list(by_norm), n=n, cutoff=0.4)
        # Also against vendor-stripped forms (e.g. "rtx4090" vs "nvidiartxa6000").
        stripped = {_strip_vendor(c): c for c in by_norm}
        close += [stripped[c] for c in difflib.get_close_matches(target, list(stripped), n=n)]
        out: list[str] = []
        for c in close:
            if by_norm[c] not in out:
                out.append(by_norm[c])
        return out[:n]

    def resolve(self, name: str) -> str:
        """Any name (NVML name, short name, alias or key; any case) -> the canonical key.

        Raises :class:`UnknownAcceleratorError` listing the closest known names.
        """
        if name is None or not str(name).strip():
            raise UnknownAcceleratorError(str(name or ""), [])
        n = normalize_name(str(name))
        if n in self._names:
            return self._names[n]
        s = _strip_vendor(n)
        if s in self._names:
            return self._names[s]
        for known, key in self._names.items():
            if _strip_vendor(known) == s:
                return key
        raise UnknownAcceleratorError(str(name), self.suggest(str(name)))

    def spec(self, name_or_key: str) -> GpuSpec:
        """The spec of an accelerator given by any name :meth:`resolve` accepts."""
        return self._by_key[self.resolve(name_or_key)]

    def frame(self) -> pandas.DataFrame:
        """The spec table as a DataFrame (one row per accelerator, FLOP/s per precision)."""
        import pandas as pd

        return pd.DataFrame([s.as_dict() for s in self.specs])


@lru_cache(maxsize=4)
def _shipped(specs: str, specs_stamp: int, aliases: str, aliases_stamp: int) -> Accelerators:
    return Accelerators.load(Path(specs), Path(aliases))


def shipped_accelerators() -> Accelerators:
    """The shipped spec and alias tables, loaded once per version of the files."""
    sp, ap = data_dir() / SPECS_FILE, data_dir() / ALIASES_FILE
    return _shipped(str(sp), file_stamp(sp), str(ap), file_stamp(ap))


def clear_caches() -> None:
    """Forget the shipped spec tables (they are also reloaded when their files change)."""
    _shipped.cache_clear()


def resolve_gpu(name: str) -> str:
    """:meth:`Accelerators.resolve` on the shipped tables."""
    return shipped_accelerators().resolve(name)


def gpu_spec(name_or_key: str) -> GpuSpec:
    """:meth:`Accelerators.spec` on the shipped tables."""
    return shipped_accelerators().spec(name_or_key)


def gpu_specs() -> list[GpuSpec]:
    """Every accelerator in the shipped spec table."""
    return list(shipped_accelerators().specs)
