"""Import a SkyPilot ``vms.csv`` catalog (schema v8: AWS, GCP or Lambda layout) as price rows.

One row per (instance type, region): the lowest on-demand price over the region's zones and the
lowest spot price (GCP: host row + GPU row of the same zone, summed). Accelerators the spec table
does not know are skipped and counted.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from costlens.core.atomicio import atomic_path
from costlens.core.errors import DataTableError, UnknownAcceleratorError
from costlens.core.validate import calendar_date
from costlens.core.vocab import CPU_KEY
from costlens.price.tables.accelerators import Accelerators, shipped_accelerators
from costlens.price.tables.instances import (
    PRICE_COLUMNS,
    PRICE_KEY,
    PriceWarning,
    merge_user_rows,
    validate_price_rows,
)
from costlens.price.tables.price_table import user_prices_path
from costlens.price.tables.rows import read_rows

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


class _Rows:
    """The aggregate being built: (instance type, region) -> lowest prices, plus skip counts."""

    def __init__(self, accelerators: Accelerators) -> None:
        self.acc = accelerators
        self.agg: dict[tuple[str, str], dict[str, Any]] = {}
        self.skipped: dict[str, int] = {}

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1

    def key(self, name: str) -> str | None:
        try:
            return self.acc.resolve(name)
        except UnknownAcceleratorError:
            self.skip(name)
            return None

    def add(self, it: str, region: str, key: str, count: int, vcpus, mem, od, spot) -> None:
        if od is None:
            self.skip("(no on-demand price)")
            return
        a = self.agg.setdefault(
            (it, region),
            {"gpu": key, "gpu_count": count, "vcpus": vcpus, "memory_gb": mem, "od": od,
             "spot": spot},
        )  # fmt: skip
        a["od"] = min(a["od"], od)
        if spot is not None:
            a["spot"] = spot if a["spot"] is None else min(a["spot"], spot)


def _read_gcp(raw: list[tuple[int, dict[str, str]]], out: _Rows, include_cpu: bool) -> None:
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
            key = out.key(acc)
            if key is None:
                continue
            gpu = gpu_rows.get((acc, n, zone))
            if gpu is None or gpu[0] is None or host_od is None:
                out.skip(f"{it} (no GPU price row in {zone})")
                continue
            used.add((acc, n, zone))
            spot = None
            if host_spot is not None and gpu[1] is not None:
                spot = round(host_spot + gpu[1], 6)
            out.add(it, region, key, n, vcpus, mem, round(host_od + gpu[0], 6), spot)
        elif include_cpu and not row["AcceleratorName"]:
            out.add(it, region, CPU_KEY, 0, vcpus, mem, host_od, host_spot)
    for acc, _n, _zone in set(gpu_rows) - used:
        out.skip(f"{acc} (GPU row without a fixed host machine type)")


def _read_flat(raw: list[tuple[int, dict[str, str]]], out: _Rows, include_cpu: bool) -> None:
    """AWS and Lambda: one row per instance type and zone, accelerators on the row."""
    for _line, row in raw:
        it = row["InstanceType"]
        if not it:
            continue
        acc = row["AcceleratorName"]
        if acc:
            key = out.key(acc)
            if key is None:
                continue
            n = int(_sky_float(row["AcceleratorCount"]) or 0)
        elif include_cpu:
            key, n = CPU_KEY, 0
        else:
            continue
        out.add(
            it,
            row["Region"],
            key,
            n,
            _sky_float(row["vCPUs"]),
            _sky_float(row["MemoryGiB"]),
            _sky_float(row["Price"]),
            _sky_float(row.get("SpotPrice")),
        )


def read_skypilot_catalog(
    path: str | Path, *, provider: str | None = None, include_cpu: bool = False
) -> tuple[str, list[dict[str, Any]], dict[str, int]]:
    """Read a SkyPilot ``vms.csv`` into price rows. Returns (provider, rows, skipped)."""
    p = Path(path).expanduser()
    required = ("InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs", "MemoryGiB")
    raw = read_rows(p, (*required, "Price", "Region"))
    header = list(raw[0][1].keys()) if raw else []
    prov = _detect_layout(header, p, provider)
    out = _Rows(shipped_accelerators())
    (_read_gcp if prov == "gcp" else _read_flat)(raw, out, include_cpu)
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
        for (it, region), a in sorted(out.agg.items())
    ]
    return prov, rows, out.skipped


def _fmt_num(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return repr(v) if isinstance(v, float) else str(v)


def write_price_table(rows: list[dict[str, Any]], path: str | Path) -> None:
    """Write price rows (PRICE_COLUMNS + note) to ``path`` atomically, validating first:
    a table that would not load is refused (DataTableError) and nothing is written."""
    cols = [*PRICE_COLUMNS, "note"]
    with atomic_path(path, make_parents=True) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(cols)
            for r in rows:
                w.writerow([_fmt_num(r.get(c)) if c not in ("source", "note") else r.get(c) or ""
                            for c in cols])  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PriceWarning)
            validate_price_rows(tmp, shipped_accelerators())


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
        as_of = dt.datetime.fromtimestamp(src.stat().st_mtime, dt.timezone.utc).date().isoformat()
    else:
        as_of = calendar_date(as_of, "--as-of")
    source = f"SkyPilot catalog {src.name} imported by costlens (sha256 {digest})"
    for r in rows:
        r.update(source=source, as_of=as_of, note="")
    target = Path(out).expanduser() if out is not None else user_prices_path()
    existing: list[dict[str, Any]] = []
    if target.is_file():
        existing = validate_price_rows(target, shipped_accelerators())
    merged = merge_user_rows(existing, rows)
    write_price_table(merged, target)
    return ImportResult(
        provider=prov, rows_imported=len(rows), rows_total=len(merged), path=str(target),
        skipped=skipped,
    )  # fmt: skip


__all__ = ["PRICE_KEY", "SKYPILOT_PROVIDERS", "ImportResult", "import_skypilot"]
