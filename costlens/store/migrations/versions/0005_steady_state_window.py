"""The steady-state window of a run and of each rank: the FLOPs and seconds after the first
steps (``costlens.core.vocab.STEADY_AFTER_STEPS``), for MFU measured after start-up, compilation
and warm-up beside MFU over the whole run. Nullable: runs recorded before have no window.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = (("steady_flops", sa.Float), ("steady_s", sa.Float))


def upgrade() -> None:
    for table in ("runs", "run_ranks"):
        with op.batch_alter_table(table) as batch:
            for name, type_ in _COLUMNS:
                batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for table in ("run_ranks", "runs"):
        with op.batch_alter_table(table) as batch:
            for name, _ in reversed(_COLUMNS):
                batch.drop_column(name)
