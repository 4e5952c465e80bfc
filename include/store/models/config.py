"""Configuration tables (F1): what operators declare. Pollers never write here.

Credentials are not stored: a cloud row names an Airflow Connection (``connection_id``).
Nullable VM settings on a cloud mean "inherit the group's value".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from include.store.models.base import Base, UTCDateTime, utcnow

NAME = 32  # group, cloud, alias and metadata names are short DNS-label-like strings


class Group(Base):
    __tablename__ = "groups"

    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    pool_kind: Mapped[str] = mapped_column(String(16), default="htcondor")  # htcondor | simulated
    collector: Mapped[str | None] = mapped_column(String(255))
    schedds: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty = every schedd of the pool
    container_hostname: Mapped[str | None] = mapped_column(String(255))
    other_submitters: Mapped[list[str]] = mapped_column(JSON, default=list)  # ["ALL"] admits anyone
    job_cores: Mapped[int] = mapped_column(Integer, default=1)
    job_ram_mb: Mapped[int] = mapped_column(Integer, default=1000)
    job_disk_gb: Mapped[float] = mapped_column(Float, default=5.0)
    job_swap_gb: Mapped[float] = mapped_column(Float, default=0.0)
    vm_image: Mapped[str | None] = mapped_column(String(255))
    vm_flavor: Mapped[str | None] = mapped_column(String(255))
    vm_keyname: Mapped[str | None] = mapped_column(String(255))
    vm_network: Mapped[str | None] = mapped_column(String(255))
    vm_security_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    vm_keep_alive: Mapped[int] = mapped_column(Integer, default=300)
    delete_on_job_completion: Mapped[bool] = mapped_column(Boolean, default=False)
    public_visibility: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Cloud(Base):
    __tablename__ = "clouds"

    group_name: Mapped[str] = mapped_column(
        String(NAME), ForeignKey("groups.name", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cloud_type: Mapped[str] = mapped_column(String(16))  # openstack | amazon | simulated
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)  # operator pause: no boots, VMs kept
    priority: Mapped[int] = mapped_column(Integer, default=0)  # lower boots first
    auth_url: Mapped[str | None] = mapped_column(String(255))
    region: Mapped[str | None] = mapped_column(String(64))
    project: Mapped[str | None] = mapped_column(String(128))
    user_domain_name: Mapped[str | None] = mapped_column(String(64))
    project_domain_name: Mapped[str | None] = mapped_column(String(64))
    connection_id: Mapped[str | None] = mapped_column(String(250))  # Airflow Connection with secrets
    ca_bundle: Mapped[str | None] = mapped_column(String(1024))  # path to a CA bundle file
    credential_expiry: Mapped[datetime | None] = mapped_column(UTCDateTime)
    vm_image: Mapped[str | None] = mapped_column(String(255))
    vm_flavor: Mapped[str | None] = mapped_column(String(255))
    vm_keyname: Mapped[str | None] = mapped_column(String(255))
    vm_network: Mapped[str | None] = mapped_column(String(255))
    vm_security_groups: Mapped[list[str] | None] = mapped_column(JSON)
    vm_keep_alive: Mapped[int | None] = mapped_column(Integer)
    boot_volume: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {gb, gb_per_core, volume_type}
    spot_price: Mapped[float] = mapped_column(Float, default=-1.0)  # -1 = on demand
    flavor_prices: Mapped[dict[str, float] | None] = mapped_column(JSON)  # flavour -> price per hour
    cores_ctl: Mapped[int] = mapped_column(Integer, default=-1)  # -1 = unset (quota decides)
    cores_softmax: Mapped[int] = mapped_column(Integer, default=-1)
    ram_ctl: Mapped[int] = mapped_column(Integer, default=-1)  # MB
    max_vms: Mapped[int] = mapped_column(Integer, default=-1)
    max_boot_per_cycle: Mapped[int | None] = mapped_column(Integer)  # None = global setting
    rate_per_second: Mapped[float | None] = mapped_column(Float)  # API token bucket; None = default
    rate_burst: Mapped[int | None] = mapped_column(Integer)
    delete_on_job_completion: Mapped[bool | None] = mapped_column(Boolean)  # None = group's value
    simulation: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # simulated clouds only
    libvirt: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # libvirt clouds only: hypervisors, flavours
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


def _cloud_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["group_name", "cloud_name"], ["clouds.group_name", "clouds.name"], ondelete="CASCADE"
    )


class AliasCloud(Base):
    """Membership of one cloud in one alias; an alias is the set of its rows."""

    __tablename__ = "alias_clouds"
    __table_args__ = (_cloud_fk(),)

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    alias: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)


class GroupMetadata(Base):
    __tablename__ = "group_metadata"

    group_name: Mapped[str] = mapped_column(
        String(NAME), ForeignKey("groups.name", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    mime_type: Mapped[str] = mapped_column(String(32), default="cloud-config")
    text: Mapped[str] = mapped_column(Text, default="")
    checksum: Mapped[str] = mapped_column(String(64), default="")


class CloudMetadata(Base):
    __tablename__ = "cloud_metadata"
    __table_args__ = (_cloud_fk(),)

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    mime_type: Mapped[str] = mapped_column(String(32), default="cloud-config")
    text: Mapped[str] = mapped_column(Text, default="")
    checksum: Mapped[str] = mapped_column(String(64), default="")


class MetadataExclusion(Base):
    """A group metadata item that must not be applied on one cloud."""

    __tablename__ = "metadata_exclusions"
    __table_args__ = (_cloud_fk(),)

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    metadata_name: Mapped[str] = mapped_column(String(64), primary_key=True)


class FlavorExclusion(Base):
    __tablename__ = "flavor_exclusions"
    __table_args__ = (_cloud_fk(),)

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    flavor_name: Mapped[str] = mapped_column(String(255), primary_key=True)


class Key(Base):
    """A public key a group distributes to its clouds (F7)."""

    __tablename__ = "keys"

    group_name: Mapped[str] = mapped_column(
        String(NAME), ForeignKey("groups.name", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(128), default="")


class KeyTarget(Base):
    """A tick in the keys x clouds matrix: this key must exist on this cloud."""

    __tablename__ = "key_targets"
    __table_args__ = (
        _cloud_fk(),
        ForeignKeyConstraint(
            ["group_name", "key_name"], ["keys.group_name", "keys.name"], ondelete="CASCADE"
        ),
    )

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    key_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)


class ImageTarget(Base):
    """A tick in the images x clouds matrix: this image (name, checksum) must be on this cloud."""

    __tablename__ = "image_targets"
    __table_args__ = (_cloud_fk(),)

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    image_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    checksum: Mapped[str | None] = mapped_column(String(128))  # None: any copy with that name


class UserGroup(Base):
    """An Airflow user's membership of a group; ``role`` is ``viewer`` or ``editor``."""

    __tablename__ = "user_groups"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    group_name: Mapped[str] = mapped_column(
        String(NAME), ForeignKey("groups.name", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), default="viewer")


class Setting(Base):
    """Global tunables; defaults live in code (include.config.settings), rows override them."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class AuditEntry(Base):
    """Who changed what configuration, and who retired or killed which VM."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_key: Mapped[str] = mapped_column(String(255))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
