"""Declared hardware (provider, instance), the host's size, and the measured energy of a run.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("instance_type", sa.String, nullable=True))
        batch.add_column(sa.Column("provider", sa.String, nullable=True))
        batch.add_column(sa.Column("energy_j", sa.Float, nullable=True))
        batch.add_column(sa.Column("energy_source", sa.String, nullable=True))
        batch.add_column(sa.Column("host_cpu_count", sa.Integer, nullable=True))
        batch.add_column(sa.Column("host_ram_total_bytes", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name in (
            "host_ram_total_bytes",
            "host_cpu_count",
            "energy_source",
            "energy_j",
            "provider",
            "instance_type",
        ):
            batch.drop_column(name)
