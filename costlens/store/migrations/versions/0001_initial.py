"""Initial schema: runs, run_ranks, samples.

Written by hand (not from the models) so that it stays the first version forever: a store created
by costlens 0.1 is upgraded by the revisions that follow this one.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("tags_json", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("ended_at", sa.DateTime, nullable=True),
        sa.Column("heartbeat_at", sa.DateTime, nullable=True),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("user", sa.String, nullable=False),
        sa.Column("command", sa.Text, nullable=False),
        sa.Column("strategy", sa.String(40), nullable=False),
        sa.Column("base_model", sa.String, nullable=True),
        sa.Column("params_total", sa.BigInteger, nullable=True),
        sa.Column("params_trainable", sa.BigInteger, nullable=True),
        sa.Column("steps", sa.BigInteger, nullable=False),
        sa.Column("samples", sa.BigInteger, nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False),
        sa.Column("flops", sa.Float, nullable=False),
        sa.Column("flops_per_step", sa.Float, nullable=True),
        sa.Column("precision", sa.String, nullable=False),
        sa.Column("world_size", sa.Integer, nullable=False),
        sa.Column("device_name", sa.String, nullable=True),
        sa.Column("device_count", sa.Integer, nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("metrics_json", sa.Text, nullable=False),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_index("ix_runs_project_started", "runs", ["project", "started_at"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_table(
        "run_ranks",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("rank", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("host", sa.String, nullable=False),
        sa.Column("steps", sa.BigInteger, nullable=False),
        sa.Column("samples", sa.BigInteger, nullable=False),
        sa.Column("tokens", sa.BigInteger, nullable=False),
        sa.Column("flops", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=True),
    )
    op.create_table(
        "samples",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("t_unix_s", sa.Float, nullable=False),
        sa.Column("node_rank", sa.Integer, nullable=False),
        sa.Column("device_index", sa.Integer, nullable=False),
        sa.Column("gpu_util_pct", sa.Float, nullable=True),
        sa.Column("mem_used_bytes", sa.BigInteger, nullable=True),
        sa.Column("mem_total_bytes", sa.BigInteger, nullable=True),
        sa.Column("power_w", sa.Float, nullable=True),
        sa.Column("energy_mj", sa.BigInteger, nullable=True),
        sa.Column("sm_clock_mhz", sa.Integer, nullable=True),
        sa.Column("temperature_c", sa.Integer, nullable=True),
        sa.Column("host_cpu_pct", sa.Float, nullable=True),
        sa.Column("host_ram_bytes", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_samples_run_time", "samples", ["run_id", "t_unix_s"])


def downgrade() -> None:
    op.drop_table("samples")
    op.drop_table("run_ranks")
    op.drop_table("runs")
