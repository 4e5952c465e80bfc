"""What the pollers saw on a group's clouds, for the configuration pages: quota and flavours (limit
sliders, flavour exclusions), images (the image matrix) and keypairs (the key matrix); and the audit
trail, newest first. Read models: the plugin shows them, never queries the tables itself."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from include.store.models import AuditEntry, CloudFlavor, CloudImage, CloudKeypair, CloudLimits, Group


@dataclass(frozen=True)
class CloudInventory:
    cores_quota: int  # -1: not polled yet, or unlimited
    ram_quota: int
    flavors: list[tuple[str, int, int]]  # (name, cores, RAM MB), smallest first


def cloud_inventory(session: Session, group: str, cloud: str) -> CloudInventory:
    lim = session.get(CloudLimits, (group, cloud))
    flavors = session.execute(
        select(CloudFlavor.name, CloudFlavor.cores, CloudFlavor.ram_mb)
        .where(CloudFlavor.group_name == group, CloudFlavor.cloud_name == cloud)
        .order_by(CloudFlavor.cores, CloudFlavor.ram_mb, CloudFlavor.name)
    )
    return CloudInventory(
        lim.cores_max if lim else -1, lim.ram_max_mb if lim else -1, [tuple(f) for f in flavors]
    )


def observed_images(session: Session, group: str) -> list[tuple]:
    """(cloud, name, checksum, visibility, size) of every named image the group's clouds list."""
    query = select(
        CloudImage.cloud_name, CloudImage.name, CloudImage.checksum, CloudImage.visibility, CloudImage.size
    ).where(CloudImage.group_name == group, CloudImage.name != "")
    return [tuple(r) for r in session.execute(query)]


def observed_keypairs(session: Session, group: str) -> list[tuple[str, str, str]]:
    """(cloud, name, fingerprint) of every keypair the group's clouds list."""
    query = select(CloudKeypair.cloud_name, CloudKeypair.name, CloudKeypair.fingerprint).where(
        CloudKeypair.group_name == group
    )
    return [tuple(r) for r in session.execute(query)]


def public_groups(session: Session) -> list[str]:
    """Groups that publish their status (csv2's public_visibility)."""
    return list(
        session.scalars(select(Group.name).where(Group.public_visibility.is_(True)).order_by(Group.name))
    )


def recent_audit(session: Session, limit: int) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))
