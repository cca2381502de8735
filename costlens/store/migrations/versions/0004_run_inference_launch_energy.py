"""What costlens inferred about a run and why, the launcher that started it, real (unpadded)
tokens, host CPU energy and its basis, the region, and why a run was stopped.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_RUN_COLUMNS = (
    ("tokens_real", sa.BigInteger, {"nullable": False, "server_default": "0"}),
    ("inferred_json", sa.Text, {"nullable": False, "server_default": "{}"}),
    ("launcher", sa.String(40), {"nullable": True}),
    ("job_id", sa.String(200), {"nullable": True}),
    ("job_partition", sa.String(200), {"nullable": True}),
    ("region", sa.String(100), {"nullable": True}),
    ("cpu_energy_j", sa.Float, {"nullable": True}),
    ("cpu_energy_basis", sa.String(40), {"nullable": True}),
    ("expected_steps", sa.BigInteger, {"nullable": True}),
    ("stop_reason", sa.Text, {"nullable": True}),
)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name, type_, kw in _RUN_COLUMNS:
            batch.add_column(sa.Column(name, type_, **kw))
    with op.batch_alter_table("run_ranks") as batch:
        batch.add_column(
            sa.Column("tokens_real", sa.BigInteger, nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("run_ranks") as batch:
        batch.drop_column("tokens_real")
    with op.batch_alter_table("runs") as batch:
        for name, _, _ in reversed(_RUN_COLUMNS):
            batch.drop_column(name)
