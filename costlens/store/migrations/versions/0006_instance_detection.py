"""Where a run ran and on what share of a GPU: ``zone``, ``purchase_option`` (spot or
on-demand), ``instance_id``, ``instance_basis`` (detected, declared or cheapest match) and
``mig_profile``. Nullable: runs recorded before have none.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("zone", 100),
    ("purchase_option", 20),
    ("instance_id", 200),
    ("instance_basis", 40),
    ("mig_profile", 40),
)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name, length in _COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
