"""Image and key distribution (F6, F7): transfers between clouds, the local image cache's index, and the
keypairs we placed. Written by include/images and include/keys (the cs_images / cs_keys DAGs, the CLI
and the upload endpoint); the configuration's matrices (``image_targets``, ``key_targets``) say what is
wanted, these tables say what was done about it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from include.store.models.base import Base, UTCDateTime, utcnow
from include.store.models.config import NAME


def _target_cloud() -> ForeignKeyConstraint:
    # A cloud removed from the configuration can no longer be reached: its records go with it.
    return ForeignKeyConstraint(
        ["group_name", "cloud_name"], ["clouds.group_name", "clouds.name"], ondelete="CASCADE"
    )


class ImageTransfer(Base):
    """One image (name, checksum) to one cloud of a group. States: pending -> claimed -> done | error,
    plus unsupported (the target cannot take images) and no_source (nothing holds the image)."""

    __tablename__ = "image_transfers"
    __table_args__ = (
        _target_cloud(),
        UniqueConstraint("group_name", "cloud_name", "image_name", "checksum"),
        Index("ix_image_transfers_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_name: Mapped[str] = mapped_column(String(NAME))
    cloud_name: Mapped[str] = mapped_column(String(NAME))  # the target
    image_name: Mapped[str] = mapped_column(String(255))
    checksum: Mapped[str] = mapped_column(String(64))  # Glance's md5; "" while no source is known
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(16), default="matrix")  # matrix | default | manual
    source_cloud: Mapped[str | None] = mapped_column(String(NAME))  # None: the cache (an upload)
    source_image_id: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    hash_algo: Mapped[str | None] = mapped_column(String(16))  # the source's multihash, where offered
    hash_value: Mapped[str | None] = mapped_column(String(256))
    disk_format: Mapped[str | None] = mapped_column(String(32))
    container_format: Mapped[str | None] = mapped_column(String(32))
    target_image_id: Mapped[str | None] = mapped_column(String(255))
    placed: Mapped[bool] = mapped_column(Boolean, default=False)  # we made the target image
    phase: Mapped[str | None] = mapped_column(String(16))  # waiting | downloading | uploading | verifying
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # "keeps failing" alert sent
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImageCacheEntry(Base):
    """A complete, verified image file in the local cache, named by its checksum."""

    __tablename__ = "image_cache"

    checksum: Mapped[str] = mapped_column(String(64), primary_key=True)  # md5 hex, as Glance's checksum
    hash_algo: Mapped[str] = mapped_column(String(16), default="sha512")
    hash_value: Mapped[str] = mapped_column(String(256))
    size: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(255))
    disk_format: Mapped[str | None] = mapped_column(String(32))
    container_format: Mapped[str | None] = mapped_column(String(32))
    group_name: Mapped[str | None] = mapped_column(String(NAME))  # uploads: the group it was given to
    origin: Mapped[str] = mapped_column(String(255))  # "cloud atlas/east image <id>" | "upload by <user>"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KeyPlacement(Base):
    """What cs_keys found or did for one key name on one cloud. ``placed_by_us``: we imported it, so we
    may delete it (only while the cloud still shows our ``fingerprint``)."""

    __tablename__ = "key_placements"
    __table_args__ = (_target_cloud(),)

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    key_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # present | conflict | error | unsupported
    fingerprint: Mapped[str] = mapped_column(String(128), default="")  # as the cloud reports it
    placed_by_us: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str | None] = mapped_column(Text)
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # conflict alert sent
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
