"""The simulated negotiator's packing: the README's depth-first configuration or HTCondor's default

Revision ID: 0017_sim_packing
Revises: 0016_sim_rejected
Create Date: 2026-12-07 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_sim_packing"
down_revision: str | Sequence[str] | None = "0016_sim_rejected"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sim_pools") as batch:
        batch.add_column(sa.Column("packing", sa.String(32), nullable=False, server_default="depth_first"))


def downgrade() -> None:
    with op.batch_alter_table("sim_pools") as batch:
        batch.drop_column("packing")
