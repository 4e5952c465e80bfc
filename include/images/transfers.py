"""The transfer state machine in the store: pending -> claimed -> done | error (| unsupported).

A claim is one conditional UPDATE (pending, or claimed with an expired lease -> claimed by us), so two
workers can never run one transfer, on SQLite or PostgreSQL; the unique (group, cloud, name, checksum)
key means there is only ever one transfer of an image to a cloud. The holder renews its lease while
data flows; a holder that dies stops renewing, and after ``lease_ttl`` the next planning run hands the
transfer to a new claim, which resumes the download from its partial file. Every later write names the
holder, so a holder that lost its lease (or whose transfer was cancelled by an untick) stops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select, update

from include.images.matrix import CLAIMED, DONE, ERROR, NO_SOURCE, PENDING, UNSUPPORTED
from include.images.settings import ImageSettings
from include.store.db import session_scope
from include.store.models import ImageTransfer


class LeaseLost(Exception):
    """This holder no longer owns the transfer (taken over after a silence, or cancelled)."""


@dataclass(frozen=True)
class Job:
    """A claimed transfer, detached from the session that read it."""

    id: int
    group: str
    cloud: str
    name: str
    checksum: str
    source_cloud: str | None
    source_image_id: str | None
    size: int | None
    disk_format: str | None
    container_format: str | None
    attempts: int
    reason: str


def claim(engine: Engine, transfer_id: int, holder: str, now: datetime, ttl: timedelta) -> Job | None:
    mine = ImageTransfer.id == transfer_id
    free = (ImageTransfer.state == PENDING) | (
        (ImageTransfer.state == CLAIMED) & (ImageTransfer.lease_until < now)
    )
    with session_scope(engine) as s:
        taken = s.execute(
            update(ImageTransfer)
            .where(mine, free)
            .values(
                state=CLAIMED,
                claimed_by=holder,
                lease_until=now + ttl,
                phase=None,
                bytes_done=0,
                updated_at=now,
            )
        ).rowcount
        if not taken:
            return None
        t = s.get(ImageTransfer, transfer_id)
        return Job(
            t.id,
            t.group_name,
            t.cloud_name,
            t.image_name,
            t.checksum,
            t.source_cloud,
            t.source_image_id,
            t.size,
            t.disk_format,
            t.container_format,
            t.attempts,
            t.reason,
        )


def _held(transfer_id: int, holder: str):
    return (
        ImageTransfer.id == transfer_id,
        ImageTransfer.state == CLAIMED,
        ImageTransfer.claimed_by == holder,
    )


class Heartbeat:
    """Renews the lease and records progress while data flows, at most every ``settings.heartbeat``."""

    def __init__(
        self, engine: Engine, job: Job, holder: str, settings: ImageSettings, clock: Callable[[], datetime]
    ):
        self.engine, self.job, self.holder, self.settings, self.clock = engine, job, holder, settings, clock
        self.phase, self.bytes, self._last = None, 0, None

    def start(self, phase: str, bytes_done: int = 0) -> None:
        self.phase, self.bytes, self._last = phase, bytes_done, None
        self.beat(0)

    def beat(self, n: int) -> None:
        self.bytes += n
        now = self.clock()
        if self._last is not None and now - self._last < self.settings.heartbeat:
            return
        self._last = now
        with session_scope(self.engine) as s:
            alive = s.execute(
                update(ImageTransfer)
                .where(*_held(self.job.id, self.holder))
                .values(
                    lease_until=now + self.settings.lease_ttl,
                    phase=self.phase,
                    bytes_done=self.bytes,
                    updated_at=now,
                )
            ).rowcount
        if not alive:
            raise LeaseLost(f"transfer {self.job.id} is no longer held by {self.holder}")


def finish(engine: Engine, job: Job, holder: str, now: datetime, target_image_id: str, placed: bool) -> bool:
    with session_scope(engine) as s:
        return bool(
            s.execute(
                update(ImageTransfer)
                .where(*_held(job.id, holder))
                .values(
                    state=DONE,
                    target_image_id=target_image_id,
                    placed=placed,
                    phase=None,
                    message=None,
                    claimed_by=None,
                    lease_until=None,
                    next_try_at=None,
                    finished_at=now,
                    updated_at=now,
                    alerted_at=None,
                )
            ).rowcount
        )


def fail(
    engine: Engine, job: Job, holder: str, now: datetime, message: str, settings: ImageSettings
) -> int | None:
    """Record a failed attempt; returns the attempts so far (None if the transfer was no longer ours).
    The planner retries after ``retry_base`` x 2^(attempts-1), up to ``max_attempts``."""
    attempts = job.attempts + 1
    delay = settings.retry_base * 2 ** (attempts - 1)
    with session_scope(engine) as s:
        done = s.execute(
            update(ImageTransfer)
            .where(*_held(job.id, holder))
            .values(
                state=ERROR,
                attempts=attempts,
                message=message[:2000],
                phase=None,
                claimed_by=None,
                lease_until=None,
                next_try_at=now + delay,
                updated_at=now,
            )
        ).rowcount
    return attempts if done else None


def set_unsupported(engine: Engine, job: Job, holder: str, now: datetime, message: str) -> None:
    with session_scope(engine) as s:
        s.execute(
            update(ImageTransfer)
            .where(*_held(job.id, holder))
            .values(
                state=UNSUPPORTED,
                message=message[:2000],
                phase=None,
                claimed_by=None,
                lease_until=None,
                updated_at=now,
            )
        )


def retry(
    session, group: str, name: str | None = None, cloud: str | None = None, now: datetime | None = None
) -> int:
    """Operator retry: failed (error) transfers go back to pending with their attempts reset."""
    query = update(ImageTransfer).where(*_filters(group, name, cloud), ImageTransfer.state == ERROR)
    return session.execute(
        query.values(
            state=PENDING,
            attempts=0,
            next_try_at=None,
            alerted_at=None,
            **({"updated_at": now} if now else {}),
        )
    ).rowcount


def clear(session, group: str, name: str | None = None, cloud: str | None = None) -> int:
    """Operator clear: forget failed, unsupported and unsourced transfers (the next planning run starts
    afresh those still wanted)."""
    query = delete(ImageTransfer).where(
        *_filters(group, name, cloud), ImageTransfer.state.in_((ERROR, UNSUPPORTED, NO_SOURCE))
    )
    return session.execute(query).rowcount


def _filters(group: str, name: str | None, cloud: str | None) -> list:
    out = [ImageTransfer.group_name == group]
    if name:
        out.append(ImageTransfer.image_name == name)
    if cloud:
        out.append(ImageTransfer.cloud_name == cloud)
    return out


def states(session, group: str) -> dict[tuple[str, str, str], ImageTransfer]:
    """(image name, checksum, cloud) -> transfer row, for pages and the CLI."""
    rows = session.scalars(select(ImageTransfer).where(ImageTransfer.group_name == group))
    return {(t.image_name, t.checksum, t.cloud_name): t for t in rows}
