"""Which sources of observed state have polled, and when: one ``poll_status`` row per source. A source
is a cloud (``cloud/<group>/<cloud>``) or a part of a group's pool (``condor/<group>/<part>``, the part
``collector`` or ``schedd:<name>``). Every poller marks its sources here and every reader builds their
keys here, so the naming lives in one place.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from include.store.models import PollStatus

CLOUD, POOL = "cloud", "condor"  # poll_status.kind


def cloud_source(group: str, cloud: str) -> str:
    return f"{CLOUD}/{group}/{cloud}"


def pool_source(group: str, part: str) -> str:
    return f"{POOL}/{group}/{part}"


def pool_sources_of(group: str) -> str:
    """The prefix every pool source of ``group`` starts with."""
    return pool_source(group, "")


def part_of(source: str) -> str:
    """``schedd:s1`` of ``condor/atlas/schedd:s1``."""
    return source.split("/", 2)[2]


def mark_polled(
    session: Session,
    source: str,
    *,
    kind: str,
    group: str,
    now: datetime,
    error: str | None = None,
    cloud: str | None = None,
    row: PollStatus | None = None,
) -> PollStatus:
    """Record an attempt on ``source``: a success (``error`` None) makes it fresh; a failure keeps its
    last success and counts one more failure in a row."""
    row = (
        row or session.get(PollStatus, source) or PollStatus(source=source, kind=kind, consecutive_failures=0)
    )
    row.group_name, row.cloud_name, row.last_attempt = group, cloud, now
    if error is None:
        row.ok, row.last_success, row.consecutive_failures, row.error = True, now, 0, None
    else:
        row.ok, row.error = False, error
        row.consecutive_failures = (row.consecutive_failures or 0) + 1
    session.add(row)
    return row


def fresh_sources(session: Session, now: datetime, stale_after: timedelta) -> dict[str, bool]:
    """source -> fresh (its last attempt succeeded, within ``stale_after``)."""
    return {
        row.source: bool(row.ok and row.last_success and now - row.last_success <= stale_after)
        for row in session.scalars(select(PollStatus))
    }
