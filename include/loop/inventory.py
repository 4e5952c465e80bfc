"""The cloud poller's inventory writes: flavours, images, keypairs, networks, security groups, limits
(with foreign usage) and the source's ``poll_status``. Each inventory table is replaced per (group,
cloud) inside the poll's transaction, except what other packages own (``cloud_images.placed_by_us``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from include.providers.base import CloudVm
from include.store.freshness import CLOUD, cloud_source, mark_polled
from include.store.models import (
    CloudFlavor,
    CloudImage,
    CloudKeypair,
    CloudLimits,
    CloudNetwork,
    CloudSecurityGroup,
)


def _replace(session: Session, model, group: str, cloud: str, rows: list[dict], key: str) -> None:
    session.execute(delete(model).where(model.group_name == group, model.cloud_name == cloud))
    unique = {r[key]: r for r in rows}  # clouds may list a name twice (flavours, keypairs): keep one
    if unique:
        session.execute(
            model.__table__.insert(),
            [{"group_name": group, "cloud_name": cloud, **r} for r in unique.values()],
        )


def write_inventory(
    session: Session, group: str, cloud: str, snap: dict, foreign: list[CloudVm], now: datetime
) -> None:
    _replace(
        session,
        CloudFlavor,
        group,
        cloud,
        [
            {
                "name": f.name,
                "flavor_id": f.flavor_id,
                "cores": f.cores,
                "ram_mb": f.ram_mb,
                "disk_gb": f.disk_gb,
                "ephemeral_gb": f.ephemeral_gb,
                "swap_gb": f.swap_gb,
                "price": f.price,
                "is_public": f.is_public,
            }
            for f in snap["flavors"]
        ],
        "name",
    )
    placed = set(
        session.scalars(
            select(CloudImage.image_id).where(
                CloudImage.group_name == group, CloudImage.cloud_name == cloud, CloudImage.placed_by_us
            )
        )
    )
    _replace(
        session,
        CloudImage,
        group,
        cloud,
        [
            {
                "image_id": i.image_id,
                "name": i.name,
                "checksum": i.checksum,
                "size": i.size,
                "disk_format": i.disk_format,
                "container_format": i.container_format,
                "visibility": i.visibility,
                "created_at": i.created_at,
                "placed_by_us": i.image_id in placed,
            }
            for i in snap["images"]
        ],
        "image_id",
    )
    _replace(
        session,
        CloudKeypair,
        group,
        cloud,
        [{"name": k.name, "fingerprint": k.fingerprint} for k in snap["keypairs"]],
        "name",
    )
    _replace(
        session,
        CloudNetwork,
        group,
        cloud,
        [
            {"network_id": n.network_id, "name": n.name, "shared": n.shared, "external": n.external}
            for n in snap["networks"]
        ],
        "network_id",
    )
    _replace(
        session,
        CloudSecurityGroup,
        group,
        cloud,
        [{"sg_id": g.sg_id, "name": g.name} for g in snap["security_groups"]],
        "sg_id",
    )
    lim = snap["limits"]
    row = session.get(CloudLimits, (group, cloud)) or CloudLimits(group_name=group, cloud_name=cloud)
    for name in (
        "cores_max",
        "cores_used",
        "ram_max_mb",
        "ram_used_mb",
        "instances_max",
        "instances_used",
        "volumes_max",
        "volumes_used",
        "volume_gb_max",
        "volume_gb_used",
        "credential_kind",
        "credential_expires_at",
        "token_expires_at",
    ):
        setattr(row, name, getattr(lim, name))
    row.foreign_vms = len(foreign)
    row.foreign_cores = sum(v.cores for v in foreign)
    row.foreign_ram_mb = sum(v.ram_mb for v in foreign)
    row.polled_at = now
    session.add(row)


def write_poll_status(session: Session, group: str, cloud: str, now: datetime, error: str | None) -> None:
    """Mark the cloud's source fresh (``error`` None) or failed."""
    mark_polled(
        session, cloud_source(group, cloud), kind=CLOUD, group=group, cloud=cloud, now=now, error=error
    )
