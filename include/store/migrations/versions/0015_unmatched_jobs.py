"""Jobs the negotiator rejects beside our idle VMs: the rejection time, and the planner's sticky mark

Revision ID: 0015_unmatched_jobs
Revises: 0014_vm_usage
Create Date: 2026-12-07 09:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import include.store.models.base

revision: str = "0015_unmatched_jobs"
down_revision: str | Sequence[str] | None = "0014_vm_usage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = include.store.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("rejected_at", UTC, nullable=True))
    op.create_table(
        "unmatched_jobs",
        sa.Column("group_name", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=255), nullable=False),
        sa.Column("since", UTC, nullable=False),
        sa.Column("vm_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("group_name", "job_id", name=op.f("pk_unmatched_jobs")),
    )


def downgrade() -> None:
    op.drop_table("unmatched_jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("rejected_at")
