"""The store's tables. Runs hold facts only (times, counts, what the user declared); every derived
figure (dollars, MFU, savings) is computed later from these facts and the dated tables.

Units are in the column names. Byte, millijoule and count columns are 64-bit integers
(``BigInteger``: a SQLModel ``int`` is a 32-bit INTEGER on PostgreSQL). FLOP counts are
doubles: a large run (7e9 params x 2e12 tokens x 6 = 8.4e22) does not fit in a signed int64.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import BigInteger, Column, DateTime, Float, Index, Integer, String, Text
from sqlmodel import Field, SQLModel

# The vocabulary of the status, strategy and precision columns (re-exported for older imports).
from costlens.core.vocab import DEFAULT_RUN_PROJECT, PRECISIONS, RUN_STATUSES, STRATEGIES

__all__ = [
    "DERIVED_RUN_KEYS",
    "PRECISIONS",
    "RECORD_KEY_OF_COLUMN",
    "RUN_KEYS",
    "RUN_STATUSES",
    "SAMPLE_COLUMNS",
    "STRATEGIES",
    "MetricRow",
    "Run",
    "RunRank",
    "RunRecord",
    "Sample",
    "run_column_defaults",
]


def _big(**kw) -> Column:
    return Column(BigInteger, **kw)


class Run(SQLModel, table=True):
    """One training job (all ranks of a distributed job form one run). Times are naive UTC."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_project_started", "project", "started_at"),
        Index("ix_runs_status", "status"),
    )

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    project: str = Field(default=DEFAULT_RUN_PROJECT, sa_column=Column(String(200), nullable=False))
    name: str = Field(default="", sa_column=Column(String(500), nullable=False))
    tags_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    status: str = Field(default="running", sa_column=Column(String(20), nullable=False))
    started_at: datetime = Field(sa_column=Column(DateTime, nullable=False, index=True))
    ended_at: datetime | None = Field(default=None, sa_column=Column(DateTime, nullable=True))
    heartbeat_at: datetime | None = Field(default=None, sa_column=Column(DateTime, nullable=True))
    host: str = ""
    user: str = ""
    command: str = Field(default="", sa_column=Column(Text, nullable=False))
    strategy: str = Field(default="other", sa_column=Column(String(40), nullable=False))
    base_model: str | None = None
    params_total: int | None = Field(default=None, sa_column=_big(nullable=True))
    params_trainable: int | None = Field(default=None, sa_column=_big(nullable=True))
    steps: int = Field(default=0, sa_column=_big(nullable=False, default=0))
    samples: int = Field(default=0, sa_column=_big(nullable=False, default=0))
    tokens: int = Field(default=0, sa_column=_big(nullable=False, default=0))
    flops: float = Field(default=0.0, sa_column=Column(Float, nullable=False, default=0.0))
    flops_per_step: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    precision: str = "fp32"
    world_size: int = 1
    device_name: str | None = None
    device_count: int = 0
    exit_code: int | None = None
    instance_type: str | None = None
    provider: str | None = None
    host_cpu_count: int | None = None
    host_ram_total_bytes: int | None = Field(default=None, sa_column=_big(nullable=True))
    energy_j: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    energy_source: str | None = None
    metrics_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    # Revision 0004. Tokens without padding (from the attention mask); ``tokens`` counts padding,
    # which is what costs.
    tokens_real: int = Field(default=0, sa_column=_big(nullable=False, default=0))
    # What costlens inferred from the model (strategy, base model) and the basis of each inference.
    inferred_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    launcher: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    job_id: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    job_partition: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    region: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    cpu_energy_j: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    cpu_energy_basis: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    expected_steps: int | None = Field(default=None, sa_column=_big(nullable=True))
    stop_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Revision 0005. The steady-state window (core.vocab.STEADY_AFTER_STEPS): FLOPs summed over
    # ranks and the longest rank's seconds after its first steps; None until every rank has one.
    steady_flops: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    steady_s: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    # Revision 0006. Where the run ran (costlens.record.cloud): the zone, spot or on-demand, the
    # cloud's instance id, and the basis of provider/instance_type/region ("detected" from the
    # instance metadata, "declared", or "cheapest match": nothing known, priced on the cheapest).
    zone: str | None = Field(default=None, sa_column=Column(String(100), nullable=True))
    purchase_option: str | None = Field(default=None, sa_column=Column(String(20), nullable=True))
    instance_id: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    instance_basis: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    # The MIG profile of the run's devices (``1g.5gb``) when it ran on MIG slices: priced at the
    # slice's share of its GPU (data/mig_profiles.csv); None on whole GPUs.
    mig_profile: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))


class RunRecord(TypedDict):
    """A run as every reader gets it (:func:`costlens.store.queries.run_record`): the :class:`Run`
    columns by name (times as ISO text, ``Z``), except those of :data:`RECORD_KEY_OF_COLUMN`,
    plus :data:`DERIVED_RUN_KEYS`. ``status`` is the effective one (a running run with a stale
    heartbeat is ``lost``). A test holds the keys equal to the columns; a new run field is a
    column, its migration and one line here (``run_record`` copies plain columns by their type).

    The key order is the order of ``costlens runs --format json|csv`` (other tools parse them:
    add keys, never rename).
    """

    id: str
    project: str
    name: str
    status: str
    strategy: str
    started_at: str | None
    ended_at: str | None
    duration_s: float | None
    steps: int
    samples: int
    tokens: int
    tokens_real: int
    flops: float
    params_total: int | None
    params_trainable: int | None
    device: str | None
    device_count: int
    world_size: int
    precision: str | None
    base_model: str | None
    tags: list[str]
    host: str | None
    user: str | None
    command: str | None
    exit_code: int | None
    energy_j: float | None
    energy_source: str | None
    flops_per_step: float | None
    instance_type: str | None
    provider: str | None
    heartbeat_at: str | None
    host_cpu_count: int | None
    host_ram_total_bytes: int | None
    cpu_energy_j: float | None
    cpu_energy_basis: str | None
    region: str | None
    metrics: dict[str, Any]
    expected_steps: int | None
    launcher: str | None
    job_id: str | None
    job_partition: str | None
    stop_reason: str | None
    strategy_basis: str | None
    base_model_basis: str | None
    steady_flops: float | None
    steady_s: float | None
    zone: str | None
    purchase_option: str | None
    instance_id: str | None
    instance_basis: str | None
    mig_profile: str | None


# The columns a record shows under another key (the JSON text columns as what they hold); the
# ``inferred_json`` column shows as the two ``*_basis`` keys (None: no key of its own).
RECORD_KEY_OF_COLUMN: dict[str, str | None] = {
    "device_name": "device",
    "tags_json": "tags",
    "metrics_json": "metrics",
    "inferred_json": None,
}
# Record keys computed from several columns: the run's duration and where a strategy or base
# model came from (declared, or inferred and on what basis).
DERIVED_RUN_KEYS: tuple[str, ...] = ("duration_s", "strategy_basis", "base_model_basis")
# The record's keys, in order: the one list (``runs --format json|csv``, the runs DataFrame).
RUN_KEYS: tuple[str, ...] = tuple(RunRecord.__annotations__)


@functools.cache
def run_column_defaults() -> dict[str, Any]:
    """The default of every NOT NULL ``runs`` column that has one (what an insert may leave out),
    read from :class:`Run`."""
    out: dict[str, Any] = {}
    for column in Run.__table__.columns:
        field = Run.model_fields[column.name]
        if not (column.nullable or column.primary_key or field.is_required()):
            out[column.name] = field.default
    return out


class RunRank(SQLModel, table=True):
    """Progress of one rank of a run; the run's counts are the sum over its ranks."""

    __tablename__ = "run_ranks"

    run_id: str = Field(sa_column=Column(String(64), primary_key=True))
    rank: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    host: str = ""
    steps: int = Field(default=0, sa_column=_big(nullable=False, default=0))
    samples: int = Field(default=0, sa_column=_big(nullable=False, default=0))
    tokens: int = Field(default=0, sa_column=_big(nullable=False, default=0))
    flops: float = Field(default=0.0, sa_column=Column(Float, nullable=False, default=0.0))
    tokens_real: int = Field(default=0, sa_column=_big(nullable=False, default=0))
    # Revision 0005: this rank's FLOPs and seconds since its steady state began (None before).
    steady_flops: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    steady_s: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    updated_at: datetime | None = Field(default=None, sa_column=Column(DateTime, nullable=True))


class Sample(SQLModel, table=True):
    """One telemetry reading of one device (``device_index`` -1: host only, no GPU)."""

    __tablename__ = "samples"
    __table_args__ = (
        Index("ix_samples_run_time", "run_id", "t_unix_s"),
        # Covering index of the per-run, per-device aggregates (migration 0003).
        Index(
            "ix_samples_run_device_cov",
            "run_id",
            "node_rank",
            "device_index",
            "gpu_util_pct",
            "power_w",
            "energy_mj",
            "t_unix_s",
        ),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    run_id: str = Field(sa_column=Column(String(64), nullable=False))
    t_unix_s: float = Field(sa_column=Column(Float, nullable=False))
    node_rank: int = 0
    device_index: int = -1
    gpu_util_pct: float | None = None
    mem_used_bytes: int | None = Field(default=None, sa_column=_big(nullable=True))
    mem_total_bytes: int | None = Field(default=None, sa_column=_big(nullable=True))
    power_w: float | None = None
    energy_mj: int | None = Field(default=None, sa_column=_big(nullable=True))
    sm_clock_mhz: int | None = None
    temperature_c: int | None = None
    host_cpu_pct: float | None = None
    host_ram_bytes: int | None = Field(default=None, sa_column=_big(nullable=True))


class MetricRow(SQLModel, table=True):
    """One point of a logged metric's series (revision 0007): its value at a step and a time,
    as one rank logged it (``run.log``; rank 0 unless the user chose another). At most
    ``costlens.record.series.POINTS_PER_METRIC`` points per run, rank and name."""

    __tablename__ = "metrics"

    run_id: str = Field(sa_column=Column(String(64), primary_key=True))
    rank: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    name: str = Field(sa_column=Column(String(200), primary_key=True))
    step: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    t_unix_s: float = Field(sa_column=Column(Float, nullable=False))
    value: float = Field(sa_column=Column(Float, nullable=False))


# Column order of the bulk insert path (tuples, not objects: see costlens.store.ingest).
SAMPLE_COLUMNS: tuple[str, ...] = (
    "run_id",
    "t_unix_s",
    "node_rank",
    "device_index",
    "gpu_util_pct",
    "mem_used_bytes",
    "mem_total_bytes",
    "power_w",
    "energy_mj",
    "sm_clock_mhz",
    "temperature_c",
    "host_cpu_pct",
    "host_ram_bytes",
)
