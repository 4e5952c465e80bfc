"""Leases in the state database: a named lock with an expiry and a fencing token, portable across
SQLite and PostgreSQL.

Airflow's ``max_active_runs=1`` keeps runs of one DAG apart, but not a zombie task and its retry, nor a
run that outlived ``dagrun_timeout`` and the next run. So every try takes its leases under a holder
name of its own, and each acquisition by a new holder raises the lease's *fence* by one. A holder
checks, before each call it makes, that the lease still has its name and its fence (:func:`holds`, which
also renews it); one that lost it does nothing. A holder that dies releases nothing: a lease expires on
its own after ``ttl``. Released leases keep their row, so the fence only ever grows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, case, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from include.store.models import utcnow
from include.store.models.loop import Lease

RELEASED = datetime(2000, 1, 1, tzinfo=UTC)  # an expiry in the past: free for the next holder


class LeaseBusy(RuntimeError):
    """Someone else holds the lease."""


def new_holder(prefix: str) -> str:
    """A holder name for one try of one task: never shared with a retry or another run."""
    return f"{prefix}/{uuid.uuid4().hex[:16]}"


def acquire(
    engine: Engine, name: str, holder: str, ttl: timedelta, now: datetime | None = None
) -> int | None:
    """Take the lease ``name`` for ``holder`` if it is free, expired, or already ``holder``'s; commit at
    once. Returns its fence (raised by one when the holder changes), or None when someone else has it."""
    now = now or utcnow()
    with Session(engine) as session, session.begin():
        taken = session.execute(
            update(Lease)
            .where(Lease.name == name, (Lease.expires_at < now) | (Lease.holder == holder))
            .values(
                holder=holder,
                expires_at=now + ttl,
                fence=case((Lease.holder == holder, Lease.fence), else_=Lease.fence + 1),
            )
        ).rowcount
        if taken:
            return session.scalar(select(Lease.fence).where(Lease.name == name))
    try:
        with Session(engine) as session, session.begin():
            session.execute(insert(Lease).values(name=name, holder=holder, expires_at=now + ttl, fence=1))
        return 1
    except IntegrityError:
        return None  # the row exists and is held by someone else


def try_acquire(engine: Engine, name: str, holder: str, ttl: timedelta, now: datetime | None = None) -> bool:
    return acquire(engine, name, holder, ttl, now) is not None


def holds(
    engine: Engine, name: str, holder: str, fence: int, ttl: timedelta, now: datetime | None = None
) -> bool:
    """Whether ``holder`` still has lease ``name`` with token ``fence``, unexpired; if so it is renewed
    for ``ttl``. Call before every action the lease guards."""
    now = now or utcnow()
    with Session(engine) as session, session.begin():
        return bool(
            session.execute(
                update(Lease)
                .where(
                    Lease.name == name, Lease.holder == holder, Lease.fence == fence, Lease.expires_at >= now
                )
                .values(expires_at=now + ttl)
            ).rowcount
        )


def release(engine: Engine, name: str, holder: str) -> None:
    with Session(engine) as session, session.begin():
        session.execute(
            update(Lease).where(Lease.name == name, Lease.holder == holder).values(expires_at=RELEASED)
        )


@contextmanager
def lease(engine: Engine, name: str, holder: str, ttl: timedelta) -> Iterator[None]:
    if not try_acquire(engine, name, holder, ttl):
        raise LeaseBusy(f"'{name}' is held by another run; try again when it finishes")
    try:
        yield
    finally:
        release(engine, name, holder)
