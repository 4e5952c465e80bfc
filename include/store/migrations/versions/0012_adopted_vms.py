"""VMs adopted from cloudscheduler v2 say so

Revision ID: 0012_adopted_vms
Revises: 0011_boot_intent_fence
Create Date: 2026-12-06 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_adopted_vms"
down_revision: str | Sequence[str] | None = "0011_boot_intent_fence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("adopted_from", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vms", schema=None) as batch_op:
        batch_op.drop_column("adopted_from")
