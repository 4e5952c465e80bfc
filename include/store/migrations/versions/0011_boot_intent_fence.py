"""boot requests carry the whole decision; leases a fencing token; credentials' expiry; flavour prices

Revision ID: 0011_boot_intent_fence
Revises: 0010_image_size
Create Date: 2026-12-06 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from include.store.models.base import UTCDateTime

revision: str = "0011_boot_intent_fence"
down_revision: str | Sequence[str] | None = "0010_image_size"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("boot_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owners", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("network", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("keyname", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("security_groups", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("user_data", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("spot_price", sa.Float(), nullable=True))
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fence", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("clouds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flavor_prices", sa.JSON(), nullable=True))
    with op.batch_alter_table("cloud_limits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credential_kind", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("credential_expires_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("token_expires_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cloud_limits", schema=None) as batch_op:
        for name in ("token_expires_at", "credential_expires_at", "credential_kind"):
            batch_op.drop_column(name)
    with op.batch_alter_table("clouds", schema=None) as batch_op:
        batch_op.drop_column("flavor_prices")
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.drop_column("fence")
    with op.batch_alter_table("boot_requests", schema=None) as batch_op:
        for name in ("spot_price", "user_data", "security_groups", "keyname", "network", "owners"):
            batch_op.drop_column(name)
