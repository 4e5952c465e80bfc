"""Drains: who drains a slot (its DrainReason), and the simulated pool's condor_defrag

Revision ID: 0018_drains
Revises: 0017_sim_packing
Create Date: 2026-12-07 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import include.store.models.base

revision: str = "0018_drains"
down_revision: str | Sequence[str] | None = "0017_sim_packing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = include.store.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("machines") as batch:
        batch.add_column(sa.Column("drain_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("sim_pools") as batch:
        batch.add_column(sa.Column("defrag_whole_cores", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("sim_startds") as batch:
        batch.add_column(sa.Column("drain_started_at", UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sim_startds") as batch:
        batch.drop_column("drain_started_at")
    with op.batch_alter_table("sim_pools") as batch:
        batch.drop_column("defrag_whole_cores")
    with op.batch_alter_table("machines") as batch:
        batch.drop_column("drain_reason")
