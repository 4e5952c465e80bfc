"""Reads the matrix, the polled images, the cache and the transfers from the store, runs the diff, and
writes its outcome: the transfer rows to run and the placed images to remove.

Wanted: every tick of ``image_targets``, plus the default image of each OpenStack cloud (the cloud's
``vm_image``, else its group's), replicated like a tick. Default-image copies are started at most every
6 h (the original's rhythm); once started they are kept like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from include.images import matrix
from include.images.cache import ImageCache
from include.images.settings import ImageSettings
from include.providers.kinds import kind_of
from include.store.models import Cloud, CloudImage, Group, ImageCacheEntry, ImageTarget, ImageTransfer

ID_LIKE = re.compile(
    r"^([0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}|ami-[0-9a-f]+)$", re.I
)


@dataclass
class Work:
    copies: list[int] = field(default_factory=list)
    removals: list[int] = field(default_factory=list)
    created: int = 0
    changed: int = 0
    dropped: int = 0


def load_wants(session: Session) -> list[matrix.Want]:
    clouds = {(c.group_name, c.name): c for c in session.scalars(select(Cloud))}
    groups = {g.name: g for g in session.scalars(select(Group))}
    wants = [
        matrix.Want(
            t.group_name,
            t.cloud_name,
            t.image_name,
            t.checksum,
            "matrix",
            clouds[(t.group_name, t.cloud_name)].enabled,
        )
        for t in session.scalars(
            select(ImageTarget).order_by(
                ImageTarget.group_name, ImageTarget.cloud_name, ImageTarget.image_name
            )
        )
    ]
    for (group, name), cloud in sorted(clouds.items()):
        default = cloud.vm_image or groups[group].vm_image
        # An image id names one cloud's copy; it cannot be looked up elsewhere. EC2 takes no copies.
        if not kind_of(cloud.cloud_type).images_unsupported and default and not ID_LIKE.match(default):
            wants.append(matrix.Want(group, name, default, None, "default", cloud.enabled))
    return wants


def load_seen(session: Session) -> list[matrix.Seen]:
    return [
        matrix.Seen(
            i.group_name,
            i.cloud_name,
            i.image_id,
            i.name,
            i.checksum,
            i.size,
            i.disk_format,
            i.container_format,
            i.created_at,
        )
        for i in session.scalars(select(CloudImage))
    ]


def load_cached(session: Session, cache: ImageCache) -> list[matrix.Cached]:
    return [
        matrix.Cached(
            c.checksum,
            c.name,
            c.size,
            c.group_name,
            c.hash_algo,
            c.hash_value,
            c.disk_format,
            c.container_format,
            c.created_at,
        )
        for c in session.scalars(select(ImageCacheEntry))
        if cache.has(c.checksum, c.size)
    ]


def load_rows(session: Session) -> list[matrix.Row]:
    return [
        matrix.Row(
            t.id,
            t.group_name,
            t.cloud_name,
            t.image_name,
            t.checksum,
            t.state,
            t.placed,
            t.attempts,
            t.next_try_at,
            t.source_cloud,
            t.source_image_id,
        )
        for t in session.scalars(select(ImageTransfer))
    ]


def plan_transfers(
    session: Session, cache: ImageCache, settings: ImageSettings, now: datetime, defaults_due: bool
) -> Work:
    clouds = session.execute(select(Cloud.group_name, Cloud.name, Cloud.cloud_type)).all()
    unsupported = {(g, c): why for g, c, kind in clouds if (why := kind_of(kind).images_unsupported)}
    plan = matrix.diff(
        load_wants(session),
        load_seen(session),
        load_cached(session, cache),
        load_rows(session),
        unsupported=unsupported,
        downloadable={(g, c) for g, c, _ in clouds} - set(unsupported),
        now=now,
        max_attempts=settings.max_attempts,
        defaults_due=defaults_due,
    )
    work = Work(
        removals=sorted(plan.remove),
        created=len(plan.create),
        changed=len(plan.update),
        dropped=len(plan.delete),
    )
    for want, checksum, state, source, message in plan.create:
        row = ImageTransfer(
            group_name=want.group,
            cloud_name=want.cloud,
            image_name=want.name,
            checksum=checksum,
            state=state,
            reason=want.reason,
            message=message,
            created_at=now,
            updated_at=now,
            **(matrix.source_fields(source) if source else {}),
        )
        session.add(row)
    for row_id, change in plan.update:
        session.execute(
            update(ImageTransfer).where(ImageTransfer.id == row_id).values(**change, updated_at=now)
        )
    if plan.delete:
        session.execute(delete(ImageTransfer).where(ImageTransfer.id.in_(plan.delete)))
    session.flush()
    remark_placed(session)
    work.copies = runnable(session, now)
    return work


def runnable(session: Session, now: datetime) -> list[int]:
    """Pending transfers, and claimed ones whose holder went silent (its lease expired): resumed."""
    return list(
        session.scalars(
            select(ImageTransfer.id)
            .where(
                or_(
                    ImageTransfer.state == matrix.PENDING,
                    (ImageTransfer.state == matrix.CLAIMED) & (ImageTransfer.lease_until < now),
                )
            )
            .order_by(ImageTransfer.id)
        )
    )


def remark_placed(session: Session) -> None:
    """``cloud_images.placed_by_us`` for every image a finished transfer made (a poll that raced with
    the transfer's own record may have dropped the flag)."""
    placed = session.execute(
        select(ImageTransfer.group_name, ImageTransfer.cloud_name, ImageTransfer.target_image_id).where(
            ImageTransfer.state == matrix.DONE, ImageTransfer.placed
        )
    ).all()
    for group, cloud, image_id in placed:
        session.execute(
            update(CloudImage)
            .where(
                CloudImage.group_name == group,
                CloudImage.cloud_name == cloud,
                CloudImage.image_id == image_id,
                ~CloudImage.placed_by_us,
            )
            .values(placed_by_us=True)
        )
