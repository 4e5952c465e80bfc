"""Clouds of type libvirt carry their hypervisors, flavours and storage pool

Revision ID: 0013_libvirt_clouds
Revises: 0012_adopted_vms
Create Date: 2026-12-07 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_libvirt_clouds"
down_revision: str | Sequence[str] | None = "0012_adopted_vms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clouds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("libvirt", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clouds", schema=None) as batch_op:
        batch_op.drop_column("libvirt")
