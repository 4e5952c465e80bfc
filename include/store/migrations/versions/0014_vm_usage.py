"""Usage accounting: a record per VM that outlives it

Revision ID: 0014_vm_usage
Revises: 0013_libvirt_clouds
Create Date: 2026-12-07 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import include.store.models.base

revision: str = "0014_vm_usage"
down_revision: str | Sequence[str] | None = "0013_libvirt_clouds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = include.store.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vm_usage",
        sa.Column("vm_id", sa.String(length=128), nullable=False),
        sa.Column("group_name", sa.String(length=32), nullable=False),
        sa.Column("cloud_name", sa.String(length=32), nullable=False),
        sa.Column("flavor", sa.String(length=255), nullable=False),
        sa.Column("cores", sa.Integer(), nullable=False),
        sa.Column("ram_mb", sa.Integer(), nullable=False),
        sa.Column("booted_at", UTC, nullable=False),
        sa.Column("registered_at", UTC, nullable=True),
        sa.Column("first_job_at", UTC, nullable=True),
        sa.Column("last_job_at", UTC, nullable=True),
        sa.Column("retired_at", UTC, nullable=True),
        sa.Column("deleted_at", UTC, nullable=True),
        sa.Column("busy_core_s", sa.Float(), nullable=False),
        sa.Column("idle_core_s", sa.Float(), nullable=False),
        sa.Column("accounted_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("vm_id", name=op.f("pk_vm_usage")),
    )
    op.create_index("ix_vm_usage_group_booted", "vm_usage", ["group_name", "booted_at"], unique=False)
    op.create_index("ix_vm_usage_deleted", "vm_usage", ["deleted_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_vm_usage_deleted", table_name="vm_usage")
    op.drop_index("ix_vm_usage_group_booted", table_name="vm_usage")
    op.drop_table("vm_usage")
