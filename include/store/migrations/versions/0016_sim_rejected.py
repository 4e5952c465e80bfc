"""The simulated schedd notes the negotiator's "no match found" on a job (LastRejMatchTime)

Revision ID: 0016_sim_rejected
Revises: 0003_sim_pool
Create Date: 2026-12-07 09:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import include.store.models.base

revision: str = "0016_sim_rejected"
down_revision: str | Sequence[str] | None = "0003_sim_pool"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = include.store.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("sim_jobs") as batch:
        batch.add_column(sa.Column("rejected_at", UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sim_jobs") as batch:
        batch.drop_column("rejected_at")
