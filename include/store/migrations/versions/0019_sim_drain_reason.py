"""The simulated pool's drains say whose they are (condor_defrag's or ours), as a real startd's
DrainReason does; it may negotiate multi-core jobs first

Revision ID: 0019_sim_drain_reason
Revises: 0018_drains
Create Date: 2026-12-08 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_sim_drain_reason"
down_revision: str | Sequence[str] | None = "0018_drains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sim_startds") as batch:
        batch.add_column(sa.Column("drain_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("sim_pools") as batch:
        batch.add_column(
            sa.Column("multicore_first", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("sim_pools") as batch:
        batch.drop_column("multicore_first")
    with op.batch_alter_table("sim_startds") as batch:
        batch.drop_column("drain_reason")
