"""Price tables and accelerator specs: load, validate, look up.

Every figure comes from a dated table in ``data/`` (see ``data/README.md``), never from a literal
here. Tables are validated whole: a malformed table is refused with a
:class:`~costlens.errors.DataTableError` that names the file, the line (1 = header) and the column.
A user price file (``~/.costlens/prices.csv`` or ``--prices FILE``) has the same columns as
``data/gpu_prices.csv`` and overrides shipped rows with the same (provider, instance_type, region).

pandas is imported inside functions (this module sits on the analysis path; it never imports torch).
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import math
import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costlens.errors import DataTableError, PriceNotFoundError, UnknownAcceleratorError
from costlens.paths import data_dir, home_dir

if TYPE_CHECKING:
    import pandas

PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "fp8")

SPECS_FILE = "gpu_specs.csv"
ALIASES_FILE = "gpu_aliases.csv"
GPU_PRICES_FILE = "gpu_prices.csv"
CPU_PRICES_FILE = "cpu_prices.csv"
ELECTRICITY_FILE = "electricity.csv"
USER_PRICES_FILE = "prices.csv"

CPU_KEY = "CPU"

# Columns every price table (shipped or user) must have; `note` is optional.
PRICE_COLUMNS: tuple[str, ...] = (
    "provider",
    "instance_type",
    "region",
    "gpu",
    "gpu_count",
    "vcpus",
    "memory_gb",
    "price_usd_hour",
    "spot_price_usd_hour",
    "source",
    "as_of",
)
PRICE_KEY: tuple[str, ...] = ("provider", "instance_type", "region")
SPEC_COLUMNS: tuple[str, ...] = (
    "key",
    "vendor",
    "memory_gb",
    "mem_bw_gbs",
    "tdp_w",
    *(f"{p}_tflops" for p in PRECISIONS),
    "source",
    "as_of",
)
ALIAS_COLUMNS: tuple[str, ...] = ("alias", "key", "source", "as_of")
ELECTRICITY_COLUMNS: tuple[str, ...] = ("region", "usd_per_kwh", "source", "as_of")

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

_DATE_RE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


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

    def peak_for(self, precision: str | None) -> float | None:
        """Dense peak FLOP/s at ``precision`` (fallbacks: tf32->fp32, fp8->bf16/fp16); None if
        the table has no figure (e.g. CPU, or an accelerator without sourced peaks)."""
        prec = (precision or "fp32").lower()
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
        out.update(source=self.source, as_of=self.as_of, note=self.note)
        return out


@dataclass(frozen=True)
class PriceQuote:
    """One instance's price, as used to price a run."""

    provider: str
    instance_type: str
    region: str
    gpu: str
    gpu_count: int
    usd_per_hour: float  # whole instance, on-demand or spot as asked
    usd_per_gpu_hour: float  # usd_per_hour / gpu_count (CPU instances: per instance-hour)
    spot: bool
    source: str
    as_of: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "instance_type": self.instance_type,
            "region": self.region,
            "gpu": self.gpu,
            "gpu_count": self.gpu_count,
            "usd_per_hour": self.usd_per_hour,
            "usd_per_gpu_hour": self.usd_per_gpu_hour,
            "spot": self.spot,
            "source": self.source,
            "as_of": self.as_of,
        }


# --------------------------------------------------------------------------------------------
# CSV reading with line numbers
# --------------------------------------------------------------------------------------------


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1.0


def _read_rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV file as (line number, {column: text}); checks the header."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise DataTableError(
                    "the file is empty (no header line)", path=str(path), line=1
                ) from None
            missing = [c for c in required if c not in header]
            if missing:
                raise DataTableError(
                    f"missing column(s) {', '.join(missing)}; the header must have "
                    f"{', '.join(required)}",
                    path=str(path),
                    line=1,
                    column=missing[0],
                )
            dupes = sorted({h for h in header if header.count(h) > 1})
            if dupes:
                raise DataTableError(
                    f"column {dupes[0]!r} appears twice in the header",
                    path=str(path),
                    line=1,
                    column=dupes[0],
                )
            rows: list[tuple[int, dict[str, str]]] = []
            for values in reader:
                line = reader.line_num
                if not values or all(not v.strip() for v in values):
                    continue
                if len(values) > len(header):
                    raise DataTableError(
                        f"{len(values)} fields but the header has {len(header)}",
                        path=str(path),
                        line=line,
                    )
                values = values + [""] * (len(header) - len(values))
                rows.append((line, {h: v.strip() for h, v in zip(header, values, strict=True)}))
            return rows
    except FileNotFoundError as exc:
        raise DataTableError("file not found", path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise DataTableError("not a UTF-8 text file", path=str(path)) from exc
    except csv.Error as exc:
        raise DataTableError(f"not a valid CSV file: {exc}", path=str(path)) from exc


def _num(
    row: dict[str, str],
    col: str,
    path: Path,
    line: int,
    *,
    required: bool = True,
    integer: bool = False,
    positive: bool = False,
) -> float | None:
    raw = row.get(col, "")
    if raw == "":
        if required:
            raise DataTableError("a value is required", path=str(path), line=line, column=col)
        return None
    try:
        value = float(raw.replace("_", "")) if "_" in raw else float(raw)
    except ValueError:
        raise DataTableError(
            f"{raw!r} is not a number", path=str(path), line=line, column=col
        ) from None
    if not math.isfinite(value):
        raise DataTableError(
            f"{raw!r} is not a finite number", path=str(path), line=line, column=col
        )
    if value < 0 or (positive and value == 0):
        raise DataTableError(
            f"{raw!r} must be {'positive' if positive else 'zero or more'}",
            path=str(path),
            line=line,
            column=col,
        )
    if integer and value != int(value):
        raise DataTableError(
            f"{raw!r} must be a whole number", path=str(path), line=line, column=col
        )
    return value


def _text(row: dict[str, str], col: str, path: Path, line: int) -> str:
    value = row.get(col, "")
    if not value:
        raise DataTableError("a value is required", path=str(path), line=line, column=col)
    return value


def _date(row: dict[str, str], col: str, path: Path, line: int) -> str:
    value = _text(row, col, path, line)
    if not _DATE_RE.match(value):
        raise DataTableError(
            f"{value!r} is not a date (YYYY-MM-DD)", path=str(path), line=line, column=col
        )
    return value


# --------------------------------------------------------------------------------------------
# Accelerator specs and names
# --------------------------------------------------------------------------------------------


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_VENDOR_PREFIXES = ("nvidia", "tesla", "geforce", "amd", "instinct", "google")


def _strip_vendor(n: str) -> str:
    changed = True
    while changed:
        changed = False
        for p in _VENDOR_PREFIXES:
            if n.startswith(p) and len(n) > len(p):
                n = n[len(p) :]
                changed = True
    return n


@lru_cache(maxsize=4)
def _specs_cached(path: str, _mtime_key: float) -> tuple[GpuSpec, ...]:
    p = Path(path)
    specs: list[GpuSpec] = []
    seen: dict[str, int] = {}
    for line, row in _read_rows(p, SPEC_COLUMNS):
        key = _text(row, "key", p, line)
        if _norm(key) in seen:
            raise DataTableError(
                f"duplicate accelerator key {key!r} (first on line {seen[_norm(key)]})",
                path=str(p),
                line=line,
                column="key",
            )
        seen[_norm(key)] = line
        peaks = {}
        for prec in PRECISIONS:
            v = _num(row, f"{prec}_tflops", p, line, required=False, positive=True)
            if v is not None:
                peaks[prec] = v * 1e12
        specs.append(
            GpuSpec(
                key=key,
                vendor=_text(row, "vendor", p, line),
                memory_gb=_num(row, "memory_gb", p, line, required=False),
                mem_bw_gbs=_num(row, "mem_bw_gbs", p, line, required=False),
                tdp_w=_num(row, "tdp_w", p, line, required=False),
                peak_flops_per_s=peaks,
                source=_text(row, "source", p, line),
                as_of=_date(row, "as_of", p, line),
                note=row.get("note", ""),
            )
        )
    if not any(s.key == CPU_KEY for s in specs):
        raise DataTableError(f"the spec table must have a {CPU_KEY!r} row", path=str(p))
    return tuple(specs)


def _specs_path() -> Path:
    return data_dir() / SPECS_FILE


def gpu_specs() -> list[GpuSpec]:
    """Every accelerator in the shipped spec table (``data/gpu_specs.csv``)."""
    p = _specs_path()
    return list(_specs_cached(str(p), _mtime(p)))


@lru_cache(maxsize=4)
def _names_cached(
    specs_path: str, specs_mtime: float, aliases_path: str, aliases_mtime: float
) -> dict[str, str]:
    specs = _specs_cached(specs_path, specs_mtime)
    names: dict[str, str] = {}
    for s in specs:
        names[_norm(s.key)] = s.key
    keys = {s.key for s in specs}
    ap = Path(aliases_path)
    if ap.is_file():
        for line, row in _read_rows(ap, ALIAS_COLUMNS):
            alias = _text(row, "alias", ap, line)
            key = _text(row, "key", ap, line)
            _text(row, "source", ap, line)
            _date(row, "as_of", ap, line)
            if key not in keys:
                raise DataTableError(
                    f"alias {alias!r} points to {key!r}, which is not in {SPECS_FILE}",
                    path=str(ap),
                    line=line,
                    column="key",
                )
            n = _norm(alias)
            if n in names and names[n] != key:
                raise DataTableError(
                    f"alias {alias!r} already means {names[n]!r}",
                    path=str(ap),
                    line=line,
                    column="alias",
                )
            names[n] = key
    return names


def _names() -> dict[str, str]:
    sp, ap = _specs_path(), data_dir() / ALIASES_FILE
    return _names_cached(str(sp), _mtime(sp), str(ap), _mtime(ap))


def _display_names() -> list[str]:
    """Keys and aliases as people write them (for suggestions)."""
    out = [s.key for s in gpu_specs()]
    ap = data_dir() / ALIASES_FILE
    if ap.is_file():
        out += [row["alias"] for _, row in _read_rows(ap, ALIAS_COLUMNS)]
    return out


def suggest_gpus(name: str, n: int = 5) -> list[str]:
    """The known names closest to ``name`` (difflib), best first."""
    display = _display_names()
    by_norm: dict[str, str] = {}
    for d in display:
        by_norm.setdefault(_norm(d), d)
    target = _strip_vendor(_norm(name)) or _norm(name)
    candidates = list(by_norm)
    close = difflib.get_close_matches(target, candidates, n=n, cutoff=0.4)
    # Also try against vendor-stripped forms (e.g. "rtx4090" vs "nvidiartxa6000").
    stripped = {_strip_vendor(c): c for c in candidates}
    close += [
        stripped[c] for c in difflib.get_close_matches(target, list(stripped), n=n, cutoff=0.4)
    ]
    seen: list[str] = []
    for c in close:
        d = by_norm[c]
        if d not in seen:
            seen.append(d)
    return seen[:n]


def resolve_gpu(name: str) -> str:
    """An accelerator name (NVML name, short name, alias or key; any case) -> its canonical key.

    Raises :class:`UnknownAcceleratorError` listing the closest known names.
    """
    if name is None or not str(name).strip():
        raise UnknownAcceleratorError(str(name or ""), [])
    names = _names()
    n = _norm(str(name))
    if n in names:
        return names[n]
    s = _strip_vendor(n)
    if s in names:
        return names[s]
    for known, key in names.items():
        if _strip_vendor(known) == s:
            return key
    raise UnknownAcceleratorError(str(name), suggest_gpus(str(name)))


def gpu_spec(name_or_key: str) -> GpuSpec:
    """The spec of an accelerator given by any name :func:`resolve_gpu` accepts."""
    key = resolve_gpu(name_or_key)
    for s in gpu_specs():
        if s.key == key:
            return s
    raise UnknownAcceleratorError(name_or_key, suggest_gpus(name_or_key))  # pragma: no cover


def gpu_specs_frame() -> pandas.DataFrame:
    """The spec table as a DataFrame (one row per accelerator, FLOP/s per precision)."""
    import pandas as pd

    return pd.DataFrame([s.as_dict() for s in gpu_specs()])


# --------------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------------


def _validate_price_rows(path: Path) -> list[dict[str, Any]]:
    """One price table, validated whole; returns clean rows (gpu resolved to its key)."""
    rows = _read_rows(path, PRICE_COLUMNS)
    out: list[dict[str, Any]] = []
    seen: dict[tuple[str, ...], int] = {}
    for line, row in rows:
        rec: dict[str, Any] = {}
        for col in ("provider", "instance_type", "region", "source"):
            rec[col] = _text(row, col, path, line)
        rec["provider"] = rec["provider"].lower()
        gpu_name = _text(row, "gpu", path, line)
        try:
            rec["gpu"] = resolve_gpu(gpu_name)
        except UnknownAcceleratorError as exc:
            hint = f" (closest: {', '.join(exc.suggestions)})" if exc.suggestions else ""
            raise DataTableError(
                f"unknown accelerator {gpu_name!r}{hint}; use a key from `costlens gpus`",
                path=str(path),
                line=line,
                column="gpu",
            ) from None
        count = _num(row, "gpu_count", path, line, integer=True)
        rec["gpu_count"] = int(count or 0)
        if rec["gpu"] == CPU_KEY and rec["gpu_count"] != 0:
            raise DataTableError(
                "a CPU-only instance must have gpu_count 0",
                path=str(path),
                line=line,
                column="gpu_count",
            )
        if rec["gpu"] != CPU_KEY and rec["gpu_count"] < 1:
            raise DataTableError(
                "an accelerator instance needs gpu_count of at least 1",
                path=str(path),
                line=line,
                column="gpu_count",
            )
        rec["vcpus"] = _num(row, "vcpus", path, line, required=False)
        rec["memory_gb"] = _num(row, "memory_gb", path, line, required=False)
        rec["price_usd_hour"] = _num(row, "price_usd_hour", path, line)
        spot = _num(row, "spot_price_usd_hour", path, line, required=False)
        rec["spot_price_usd_hour"] = float("nan") if spot is None else spot
        rec["as_of"] = _date(row, "as_of", path, line)
        rec["note"] = row.get("note", "")
        key = tuple(rec[c] for c in PRICE_KEY)
        if key in seen:
            raise DataTableError(
                f"duplicate row for {'/'.join(key)} (first on line {seen[key]})",
                path=str(path),
                line=line,
                column="instance_type",
            )
        seen[key] = line
        if spot is not None and spot > rec["price_usd_hour"]:
            warnings.warn(
                f"{path}:{line}: spot price {spot} is above the on-demand price "
                f"{rec['price_usd_hour']} for {'/'.join(key)}",
                PriceWarning,
                stacklevel=3,
            )
        rec["file"] = str(path)
        out.append(rec)
    return out


class PriceWarning(UserWarning):
    """A suspicious but accepted price row (e.g. spot above on-demand)."""


@lru_cache(maxsize=16)
def _table_cached(
    path: str, _mtime_key: float, _names_key: tuple[float, float]
) -> tuple[dict[str, Any], ...]:
    return tuple(_validate_price_rows(Path(path)))


def validate_price_file(path: str | Path) -> list[dict[str, Any]]:
    """Validate one price table (shipped layout); returns its rows. Raises DataTableError."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataTableError("file not found", path=str(p))
    names_key = (_mtime(_specs_path()), _mtime(data_dir() / ALIASES_FILE))
    return list(_table_cached(str(p.resolve()), _mtime(p), names_key))


def user_prices_path() -> Path:
    """The user's own price file: ``~/.costlens/prices.csv`` (``$COSTLENS_HOME/prices.csv``)."""
    return home_dir(create=False) / USER_PRICES_FILE


def _shipped_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in (GPU_PRICES_FILE, CPU_PRICES_FILE):
        p = data_dir() / name
        if p.is_file():
            rows += validate_price_file(p)
    return rows


def load_prices(user_file: str | Path | None = None) -> pandas.DataFrame:
    """Shipped price tables plus the user's file (``user_file``, else ~/.costlens/prices.csv if it
    exists), the user's rows replacing shipped rows with the same (provider, instance_type, region).

    Columns: provider, instance_type, region, gpu (key; "CPU" for CPU-only), gpu_count, vcpus,
    memory_gb, price_usd_hour, spot_price_usd_hour (NaN if none), usd_per_gpu_hour (on-demand;
    per instance-hour for CPU rows), source, as_of, note, origin ("shipped" or "user").
    Cached on the files' modification times; the caller gets its own copy.
    """
    up = Path(user_file).expanduser() if user_file is not None else user_prices_path()
    if user_file is not None and not up.is_file():
        raise DataTableError("price file not found", path=str(up))
    files = [data_dir() / GPU_PRICES_FILE, data_dir() / CPU_PRICES_FILE]
    key = tuple((str(f), _mtime(f)) for f in files)
    key += ((str(_specs_path()), _mtime(_specs_path())),)
    key += ((str(data_dir() / ALIASES_FILE), _mtime(data_dir() / ALIASES_FILE)),)
    user_key = (str(up.resolve()), _mtime(up)) if up.is_file() else None
    return _prices_frame_cached(key, user_key).copy()


@lru_cache(maxsize=8)
def _prices_frame_cached(
    _shipped_key: tuple[tuple[str, float], ...], user_key: tuple[str, float] | None
) -> pandas.DataFrame:
    import pandas as pd

    rows = [{**r, "origin": "shipped"} for r in _shipped_rows()]
    if user_key is not None:
        user_rows = [{**r, "origin": "user"} for r in validate_price_file(user_key[0])]
        keys = {tuple(r[c] for c in PRICE_KEY) for r in user_rows}
        rows = [r for r in rows if tuple(r[c] for c in PRICE_KEY) not in keys] + user_rows
    cols = [*PRICE_COLUMNS, "usd_per_gpu_hour", "note", "origin"]
    df = pd.DataFrame([{k: v for k, v in r.items() if k != "file"} for r in rows])
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["gpu_count"] = df["gpu_count"].astype(int)
    df["spot_price_usd_hour"] = df["spot_price_usd_hour"].astype(float)
    df["usd_per_gpu_hour"] = df["price_usd_hour"] / df["gpu_count"].where(df["gpu_count"] > 0, 1)
    return df[cols].reset_index(drop=True)


def quote_from_row(row: Any, spot: bool) -> PriceQuote:
    """A PriceQuote from one row of :func:`load_prices`."""
    usd = float(row["spot_price_usd_hour"] if spot else row["price_usd_hour"])
    count = int(row["gpu_count"])
    return PriceQuote(
        provider=str(row["provider"]),
        instance_type=str(row["instance_type"]),
        region=str(row["region"]),
        gpu=str(row["gpu"]),
        gpu_count=count,
        usd_per_hour=usd,
        usd_per_gpu_hour=usd / count if count > 0 else usd,
        spot=spot,
        source=str(row["source"]),
        as_of=str(row["as_of"]),
    )


def cheapest_instance(
    gpu: str,
    gpu_count: int = 1,
    *,
    provider: str | None = None,
    spot: bool = False,
    instance_type: str | None = None,
    prices: pandas.DataFrame | None = None,
    min_vcpus: int | None = None,
) -> PriceQuote:
    """The cheapest instance (per GPU-hour; per instance-hour for CPU) with this accelerator.

    Prefers instances with exactly ``gpu_count`` accelerators, then the smallest larger one,
    then (for jobs bigger than any instance) the cheapest per GPU-hour. ``instance_type`` pins the
    instance (cheapest region). For ``"CPU"``, ``min_vcpus`` keeps instances with at least that
    many vCPUs (else the largest). Raises :class:`PriceNotFoundError` when nothing matches.
    """
    key = resolve_gpu(gpu)
    df = load_prices() if prices is None else prices
    m = df[df["gpu"] == key]
    what = key
    if provider:
        m = m[m["provider"] == provider.lower()]
        what += f" on {provider}"
    if instance_type:
        m = m[m["instance_type"] == instance_type]
        what += f" instance {instance_type}"
    if spot:
        m = m[m["spot_price_usd_hour"].notna()]
        what += " (spot)"
    if m.empty:
        raise PriceNotFoundError(
            f"no price for {what}; `costlens prices --gpu {key}` lists what is known, and a "
            "user price file (~/.costlens/prices.csv or --prices FILE) can add rows."
        )
    m = m.assign(
        _usd=m["spot_price_usd_hour"] if spot else m["price_usd_hour"],
    )
    m = m.assign(_per=m["_usd"] / m["gpu_count"].where(m["gpu_count"] > 0, 1))
    if not instance_type and key != CPU_KEY:
        n = max(int(gpu_count or 1), 1)
        exact = m[m["gpu_count"] == n]
        larger = m[m["gpu_count"] > n]
        if not exact.empty:
            m = exact
        elif not larger.empty:
            m = larger[larger["gpu_count"] == larger["gpu_count"].min()]
    if not instance_type and key == CPU_KEY and min_vcpus:
        big = m[m["vcpus"].fillna(0) >= min_vcpus]
        m = big if not big.empty else m[m["vcpus"] == m["vcpus"].max()]
    best = m.sort_values(["_per", "_usd", "provider", "instance_type", "region"]).iloc[0]
    return quote_from_row(best, spot)


# --------------------------------------------------------------------------------------------
# Electricity
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _electricity_cached(path: str, _mtime_key: float) -> tuple[float, str, str]:
    p = Path(path)
    rows = _read_rows(p, ELECTRICITY_COLUMNS)
    if not rows:
        raise DataTableError("no rate rows", path=str(p), line=2)
    chosen: tuple[float, str, str] | None = None
    for line, row in rows:
        rate = _num(row, "usd_per_kwh", p, line, positive=True)
        src = _text(row, "source", p, line)
        as_of = _date(row, "as_of", p, line)
        if chosen is None or row.get("default", "").lower() in ("1", "true", "yes"):
            chosen = (float(rate or 0.0), src, as_of)
    assert chosen is not None
    return chosen


def electricity_usd_per_kwh(user_file: str | Path | None = None) -> tuple[float, str, str]:
    """(rate in $/kWh, source, as_of): from ``user_file`` if given, else
    ``~/.costlens/electricity.csv`` if it exists, else the shipped ``data/electricity.csv``
    (its row marked default, else its first row)."""
    if user_file is not None:
        p = Path(user_file).expanduser()
        if not p.is_file():
            raise DataTableError("electricity file not found", path=str(p))
    else:
        p = home_dir(create=False) / ELECTRICITY_FILE
        if not p.is_file():
            p = data_dir() / ELECTRICITY_FILE
    return _electricity_cached(str(p), _mtime(p))


def clear_caches() -> None:
    """Forget every cached table (tests; tables are also reloaded when their mtime changes)."""
    for fn in (
        _specs_cached,
        _names_cached,
        _table_cached,
        _electricity_cached,
        _prices_frame_cached,
    ):
        fn.cache_clear()


# --------------------------------------------------------------------------------------------
# SkyPilot catalog import
# --------------------------------------------------------------------------------------------

SKYPILOT_PROVIDERS = ("aws", "gcp", "lambda")

# GCP machine types whose accelerators are fixed by the type: prefix -> SkyPilot accelerator name.
# The GPU count is the type's "-<n>g" suffix. (SkyPilot catalog v8 prices GCP hosts and GPUs in
# separate rows; an instance's price is the sum of its host row and its GPU row in the same zone.)
_GCP_FIXED_ACCELERATOR = {
    "a2-highgpu": "A100",
    "a2-megagpu": "A100",
    "a2-ultragpu": "A100-80GB",
    "a3-highgpu": "H100",
    "a3-edgegpu": "H100",
    "a3-megagpu": "H100-MEGA",
    "a3-ultragpu": "H200",
    "a4-highgpu": "B200",
}


@dataclass
class ImportResult:
    """What a SkyPilot import did: rows written, where, and what was skipped (and why)."""

    provider: str
    rows_imported: int
    rows_total: int
    path: str
    skipped: dict[str, int] = field(default_factory=dict)


def _detect_layout(header: list[str], path: Path, provider: str | None) -> str:
    if provider:
        p = provider.lower()
        if p not in SKYPILOT_PROVIDERS:
            raise DataTableError(
                f"unsupported SkyPilot provider {provider!r}; supported: "
                f"{', '.join(SKYPILOT_PROVIDERS)}",
                path=str(path),
            )
        return p
    parent = path.parent.name.lower()
    if parent in SKYPILOT_PROVIDERS:
        return parent
    if "AvailabilityZone" in header and "Arch" in header:
        return "aws"
    if "AvailabilityZone" in header:
        return "gcp"
    return "lambda"


def _sky_float(raw: str | None) -> float | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        v = float(raw)
    except ValueError:
        return None
    return v if math.isfinite(v) and v > 0 else None


def _resolve_or_none(name: str) -> str | None:
    try:
        return resolve_gpu(name)
    except UnknownAcceleratorError:
        return None


def read_skypilot_catalog(
    path: str | Path, *, provider: str | None = None, include_cpu: bool = False
) -> tuple[str, list[dict[str, Any]], dict[str, int]]:
    """Read a SkyPilot ``vms.csv`` (schema v8: AWS, GCP or Lambda layout) into price rows.

    One row per (instance type, region): the lowest on-demand price over the region's zones and
    the lowest spot price (GCP: host row + GPU row of the same zone, summed). Accelerators the spec
    table does not know are skipped and counted in the returned ``skipped`` dict (name -> rows).
    Returns (provider, rows, skipped).
    """
    p = Path(path).expanduser()
    required = ("InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs", "MemoryGiB")
    raw = _read_rows(p, (*required, "Price", "Region"))
    header = list(raw[0][1].keys()) if raw else []
    prov = _detect_layout(header, p, provider)
    skipped: dict[str, int] = {}
    # (instance_type, region) -> aggregate
    agg: dict[tuple[str, str], dict[str, Any]] = {}

    def add(it: str, region: str, key: str, count: int, vcpus, mem, od, spot) -> None:
        if od is None:
            skipped["(no on-demand price)"] = skipped.get("(no on-demand price)", 0) + 1
            return
        a = agg.setdefault(
            (it, region),
            {"gpu": key, "gpu_count": count, "vcpus": vcpus, "memory_gb": mem, "od": od,
             "spot": spot},
        )  # fmt: skip
        a["od"] = min(a["od"], od)
        if spot is not None:
            a["spot"] = spot if a["spot"] is None else min(a["spot"], spot)

    if prov == "gcp":
        gpu_rows: dict[tuple[str, int, str], tuple[float | None, float | None]] = {}
        hosts = []
        for _line, row in raw:
            if row["InstanceType"]:
                hosts.append(row)
            elif row["AcceleratorName"]:
                n = int(_sky_float(row["AcceleratorCount"]) or 0)
                zone = row.get("AvailabilityZone") or row["Region"]
                gpu_rows[(row["AcceleratorName"], n, zone)] = (
                    _sky_float(row["Price"]),
                    _sky_float(row.get("SpotPrice")),
                )
        used: set[tuple[str, int, str]] = set()
        for row in hosts:
            it = row["InstanceType"]
            family = "-".join(it.split("-")[:2])
            m = re.search(r"-(\d+)g$", it)
            region, zone = row["Region"], row.get("AvailabilityZone") or row["Region"]
            vcpus, mem = _sky_float(row["vCPUs"]), _sky_float(row["MemoryGiB"])
            host_od, host_spot = _sky_float(row["Price"]), _sky_float(row.get("SpotPrice"))
            if family in _GCP_FIXED_ACCELERATOR and m:
                acc, n = _GCP_FIXED_ACCELERATOR[family], int(m.group(1))
                key = _resolve_or_none(acc)
                if key is None:
                    skipped[acc] = skipped.get(acc, 0) + 1
                    continue
                gpu = gpu_rows.get((acc, n, zone))
                if gpu is None or gpu[0] is None or host_od is None:
                    skipped[f"{it} (no GPU price row in {zone})"] = (
                        skipped.get(f"{it} (no GPU price row in {zone})", 0) + 1
                    )
                    continue
                used.add((acc, n, zone))
                spot = None
                if host_spot is not None and gpu[1] is not None:
                    spot = round(host_spot + gpu[1], 6)
                add(it, region, key, n, vcpus, mem, round(host_od + gpu[0], 6), spot)
            elif include_cpu and not row["AcceleratorName"]:
                add(it, region, CPU_KEY, 0, vcpus, mem, host_od, host_spot)
        for acc, _n, _zone in set(gpu_rows) - used:
            label = f"{acc} (GPU row without a fixed host machine type)"
            skipped[label] = skipped.get(label, 0) + 1
    else:
        for _line, row in raw:
            it = row["InstanceType"]
            if not it:
                continue
            acc = row["AcceleratorName"]
            if acc:
                key = _resolve_or_none(acc)
                if key is None:
                    skipped[acc] = skipped.get(acc, 0) + 1
                    continue
                n = int(_sky_float(row["AcceleratorCount"]) or 0)
            elif include_cpu:
                key, n = CPU_KEY, 0
            else:
                continue
            add(
                it,
                row["Region"],
                key,
                n,
                _sky_float(row["vCPUs"]),
                _sky_float(row["MemoryGiB"]),
                _sky_float(row["Price"]),
                _sky_float(row.get("SpotPrice")),
            )
    rows = [
        {
            "provider": prov,
            "instance_type": it,
            "region": region,
            "gpu": a["gpu"],
            "gpu_count": a["gpu_count"],
            "vcpus": a["vcpus"],
            "memory_gb": a["memory_gb"],
            "price_usd_hour": a["od"],
            "spot_price_usd_hour": a["spot"],
        }
        for (it, region), a in sorted(agg.items())
    ]
    return prov, rows, skipped


def _fmt_num(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return repr(v) if isinstance(v, float) else str(v)


def write_price_table(rows: list[dict[str, Any]], path: str | Path) -> None:
    """Write price rows (PRICE_COLUMNS + note) to ``path`` atomically, validating first:
    a table that would not load is refused (DataTableError) and nothing is written."""
    import os
    import tempfile

    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    cols = [*PRICE_COLUMNS, "note"]
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(cols)
            for r in rows:
                w.writerow([_fmt_num(r.get(c)) if c not in ("source", "note") else r.get(c) or ""
                            for c in cols])  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PriceWarning)
            _validate_price_rows(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def import_skypilot(
    path: str | Path,
    *,
    out: str | Path | None = None,
    provider: str | None = None,
    include_cpu: bool = False,
    as_of: str | None = None,
) -> ImportResult:
    """Import a SkyPilot ``vms.csv`` into the user's price table (``out``, default
    ~/.costlens/prices.csv), merged with the rows already there (imported rows replace rows with
    the same provider/instance/region). Validated like every table; written atomically."""
    import datetime as _dt
    import hashlib

    src = Path(path).expanduser()
    if not src.is_file():
        raise DataTableError("file not found", path=str(src))
    prov, rows, skipped = read_skypilot_catalog(src, provider=provider, include_cpu=include_cpu)
    if not rows:
        raise DataTableError(
            "no importable rows (no instance with an accelerator costlens knows"
            + ("" if include_cpu else "; add --include-cpu for CPU-only instances")
            + ")",
            path=str(src),
        )
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    if as_of is None:
        as_of = _dt.datetime.fromtimestamp(src.stat().st_mtime, _dt.timezone.utc).date().isoformat()
    elif not _DATE_RE.match(as_of):
        raise DataTableError(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)")
    source = f"SkyPilot catalog {src.name} imported by costlens (sha256 {digest})"
    for r in rows:
        r.update(source=source, as_of=as_of, note="")
    target = Path(out).expanduser() if out is not None else user_prices_path()
    existing: list[dict[str, Any]] = []
    if target.is_file():
        existing = [dict(r) for r in validate_price_file(target)]
    new_keys = {tuple(r[c] for c in PRICE_KEY) for r in rows}
    kept = [r for r in existing if tuple(r[c] for c in PRICE_KEY) not in new_keys]
    merged = kept + rows
    write_price_table(merged, target)
    return ImportResult(
        provider=prov, rows_imported=len(rows), rows_total=len(merged), path=str(target),
        skipped=skipped,
    )  # fmt: skip
