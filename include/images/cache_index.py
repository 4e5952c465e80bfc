"""The cache's index (table ``image_cache``) and its housekeeping: size bound with LRU eviction, removal
of entries unused for a month, reconciliation of table and directory.

An entry is never evicted while a pending or claimed transfer needs it, nor within ``min_age`` of its
last use (an upload waits there for the transfers the next planning run creates).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from include.images.cache import ImageCache
from include.images.hashing import Digest
from include.images.settings import ImageSettings
from include.store.models import ImageCacheEntry, ImageTransfer

STALE_PARTIAL = timedelta(days=1)


class CacheFull(Exception):
    """The cache cannot make room for an image within its size bound."""


@dataclass
class TidyReport:
    expired: int = 0
    evicted: int = 0
    orphans: int = 0
    forgotten: int = 0
    used_bytes: int = 0
    disk_fraction: float = 0.0


def ready_entry(session: Session, cache: ImageCache, checksum: str) -> ImageCacheEntry | None:
    """The entry of ``checksum`` if its file is there whole; an entry whose file vanished is dropped."""
    row = session.get(ImageCacheEntry, checksum)
    if row is not None and not cache.has(checksum, row.size):
        session.delete(row)
        return None
    return row


def record(
    session: Session,
    digest: Digest,
    *,
    name: str,
    disk_format: str | None,
    container_format: str | None,
    origin: str,
    group: str | None,
    now: datetime,
) -> ImageCacheEntry:
    row = session.get(ImageCacheEntry, digest.checksum) or ImageCacheEntry(
        checksum=digest.checksum, created_at=now
    )
    row.hash_algo, row.hash_value, row.size = "sha512", digest.sha512, digest.size
    row.name, row.disk_format, row.container_format = name, disk_format, container_format
    row.origin, row.group_name, row.last_used_at = origin[:255], group, now
    session.add(row)
    return row


def touch(session: Session, checksum: str, now: datetime) -> None:
    row = session.get(ImageCacheEntry, checksum)
    if row is not None:
        row.last_used_at = now


def pinned(session: Session) -> set[str]:
    """Checksums that pending or claimed transfers still need."""
    return set(
        session.scalars(select(ImageTransfer.checksum).where(ImageTransfer.state.in_(("pending", "claimed"))))
    )


def make_room(
    session: Session,
    cache: ImageCache,
    settings: ImageSettings,
    need: int,
    now: datetime,
    keep: frozenset[str] = frozenset(),
) -> int:
    """Evict least recently used entries until ``need`` more bytes fit under the bound; returns how
    many were evicted. Raises CacheFull when the pinned and young entries alone leave no room."""
    used = cache.used_bytes()
    if used + need <= settings.cache_max_bytes:
        return 0
    protected = pinned(session) | set(keep)
    young = now - settings.min_age
    evicted = 0
    for row in session.scalars(select(ImageCacheEntry).order_by(ImageCacheEntry.last_used_at)):
        if used + need <= settings.cache_max_bytes:
            break
        if row.checksum in protected or row.last_used_at > young:
            continue
        used -= cache.remove(row.checksum)
        session.delete(row)
        evicted += 1
    session.flush()
    if used + need > settings.cache_max_bytes:
        raise CacheFull(
            f"the image cache cannot hold {need / 1e9:.2f} GB more within its bound of "
            f"{settings.cache_max_bytes / 1e9:.0f} GB ({used / 1e9:.2f} GB in use by images "
            f"being distributed); raise CLOUDSCHEDULER_IMAGE_CACHE_MAX_GB"
        )
    return evicted


def tidy(session: Session, cache: ImageCache, settings: ImageSettings, now: datetime) -> TidyReport:
    report = TidyReport()
    keep = pinned(session)
    rows = {r.checksum: r for r in session.scalars(select(ImageCacheEntry))}
    for checksum, row in list(rows.items()):
        if not cache.has(checksum, row.size):
            session.delete(row)
            del rows[checksum]
            report.forgotten += 1
        elif row.last_used_at < now - settings.retention and checksum not in keep:
            cache.remove(checksum)
            session.delete(row)
            del rows[checksum]
            report.expired += 1
    report.orphans = _remove_orphans(cache, rows, keep, settings, now)
    # Everything left may be needed: then the next download that does not fit fails, saying why.
    with contextlib.suppress(CacheFull):
        report.evicted = make_room(session, cache, settings, 0, now)
    report.used_bytes = cache.used_bytes()
    report.disk_fraction = cache.disk_fraction()
    return report


def _remove_orphans(
    cache: ImageCache, rows: dict, keep: set[str], settings: ImageSettings, now: datetime
) -> int:
    """Files the index does not know: complete ones older than ``min_age`` (a publish whose record
    was lost), partial downloads nothing resumes, uploads abandoned for a day."""
    removed = 0
    wall = now.timestamp()
    for f in cache.files():
        checksum = cache.checksum_of(f.name)
        age = wall - f.mtime
        if f.name.endswith(".img"):
            stale = checksum not in rows and age > settings.min_age.total_seconds()
        else:
            stale = checksum not in keep and age > STALE_PARTIAL.total_seconds()
        if stale:
            (cache.root / f.name).unlink(missing_ok=True)
            removed += 1
    return removed
