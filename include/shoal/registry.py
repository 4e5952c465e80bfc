"""The cache registry in our store (``shoal_caches``): register and refresh from heartbeats, expire the
silent, and read views for the API. ``now`` is always passed in.

Registration rules (reference section 3.1): a heartbeat for a known uuid refreshes only ``load`` and
``last_active``; address, port and hostname stay as first registered. A new uuid is accepted only if its
timestamp is less than ``inactive_time`` old, it has an address, and GeoIP can place that address.
Unlike the original, ``last_active`` is always our receive time, so a sender clock that runs ahead can
neither keep a cache alive nor expire it early; the difference is kept as ``drift_seconds``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from include.shoal.geo import Locator
from include.shoal.message import Heartbeat, Rejection, parse
from include.shoal.ranking import CacheView
from include.store.models import ShoalCache


def ingest(
    session: Session,
    bodies: Iterable[bytes],
    locator: Locator,
    now: datetime,
    inactive_time: float,
    new_uuids: list[str] | None = None,
) -> Counter:
    """Apply message bodies in arrival order; returns counts of outcomes (``registered``, ``refreshed``,
    ``rejected:<reason>``). The uuids of caches registered now are appended to ``new_uuids`` if given
    (they need verifying before anyone is sent to them)."""
    outcomes: Counter = Counter()
    parsed = [parse(body) for body in bodies]
    uuids = {p.uuid for p in parsed if isinstance(p, Heartbeat)}
    known = {row.uuid: row for row in session.scalars(select(ShoalCache).where(ShoalCache.uuid.in_(uuids)))}
    for item in parsed:
        if isinstance(item, Rejection):
            outcomes[f"rejected:{item.reason}"] += 1
            continue
        row = known.get(item.uuid)
        if row is not None:
            _refresh(row, item, now)
            outcomes["refreshed"] += 1
            continue
        row_or_reason = _register(item, locator, now, inactive_time)
        if isinstance(row_or_reason, str):
            outcomes[f"rejected:{row_or_reason}"] += 1
            continue
        session.add(row_or_reason)
        known[item.uuid] = row_or_reason
        outcomes["registered"] += 1
        if new_uuids is not None:
            new_uuids.append(item.uuid)
    return outcomes


def _refresh(row: ShoalCache, beat: Heartbeat, now: datetime) -> None:
    row.load = beat.load
    row.last_active = now
    row.sent_at = _epoch_to_datetime(beat.timestamp, now)
    row.drift_seconds = now.timestamp() - beat.timestamp


def _register(beat: Heartbeat, locator: Locator, now: datetime, inactive_time: float) -> ShoalCache | str:
    if now.timestamp() - beat.timestamp >= inactive_time:
        return "stale"
    address = beat.public_ip or beat.external_ip
    if address is None:
        return "no_address" if beat.private_ip is None else "private_only"
    place = locator.locate(beat.public_ip) if beat.public_ip else None
    if place is None and beat.external_ip:
        place = locator.locate(beat.external_ip)
    if place is None:
        return "not_located"
    return ShoalCache(
        uuid=beat.uuid,
        hostname=beat.hostname,
        port=beat.port,
        public_ip=beat.public_ip,
        private_ip=beat.private_ip,
        external_ip=beat.external_ip,
        cache_type=beat.cache_type,
        upstream=beat.upstream,
        agent_version=beat.agent_version,
        global_access=beat.global_access,
        domain_access=beat.domain_access,
        load=beat.load,
        max_load=beat.max_load,
        latitude=place.latitude,
        longitude=place.longitude,
        geo=place.geo,
        domain=locator.domain(address),
        created=now,
        last_active=now,
        sent_at=_epoch_to_datetime(beat.timestamp, now),
        drift_seconds=now.timestamp() - beat.timestamp,
        verified=False,
        verify_failures=0,
    )


def _epoch_to_datetime(epoch: float, fallback: datetime) -> datetime:
    try:
        return datetime.fromtimestamp(epoch, tz=fallback.tzinfo)
    except (OverflowError, OSError, ValueError):  # a timestamp far outside the calendar
        return fallback


def expire(session: Session, now: datetime, inactive_time: float) -> list[str]:
    """Delete caches silent for more than ``inactive_time`` seconds; returns their uuids."""
    cutoff = now - timedelta(seconds=inactive_time)
    gone = list(session.scalars(select(ShoalCache.uuid).where(ShoalCache.last_active < cutoff)))
    if gone:
        session.execute(delete(ShoalCache).where(ShoalCache.uuid.in_(gone)))
    return gone


def live_views(session: Session, now: datetime, inactive_time: float) -> list[CacheView]:
    """Every cache heard from within ``inactive_time``, in registration order."""
    cutoff = now - timedelta(seconds=inactive_time)
    rows = session.scalars(
        select(ShoalCache)
        .where(ShoalCache.last_active >= cutoff)
        .order_by(ShoalCache.created, ShoalCache.uuid)
    )
    return [view(row) for row in rows]


def view(row: ShoalCache) -> CacheView:
    return CacheView(
        uuid=row.uuid,
        hostname=row.hostname,
        port=row.port,
        public_ip=row.public_ip,
        private_ip=row.private_ip,
        external_ip=row.external_ip,
        latitude=row.latitude,
        longitude=row.longitude,
        geo=dict(row.geo or {}),
        domain=row.domain,
        load=row.load,
        max_load=row.max_load,
        verified=row.verified,
        global_access=row.global_access,
        domain_access=row.domain_access,
        cache_type=row.cache_type,
        upstream=row.upstream,
        created=row.created.timestamp(),
        last_active=row.last_active.timestamp(),
        drift_seconds=row.drift_seconds,
        agent_version=row.agent_version,
        verify_error=row.verify_error,
        verify_attempted=row.verify_attempted.timestamp() if row.verify_attempted else None,
    )
