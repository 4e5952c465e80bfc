"""Leases in the state database: a named lock with an expiry, portable across SQLite and PostgreSQL.

Airflow's ``max_active_runs=1`` keeps runs of one DAG apart; a lease also keeps apart a scheduled run,
a manual dry run and an operator DAG that plan or act for the same group. A holder that dies releases
nothing, so a lease expires on its own after ``ttl``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from include.store.models import utcnow
from include.store.models.loop import Lease


class LeaseBusy(RuntimeError):
    """Someone else holds the lease."""


def try_acquire(engine: Engine, name: str, holder: str, ttl: timedelta, now: datetime | None = None) -> bool:
    """Take the lease ``name`` for ``holder`` if it is free, expired, or already ours; commit at once."""
    now = now or utcnow()
    with Session(engine) as session, session.begin():
        taken = session.execute(
            update(Lease)
            .where(Lease.name == name, (Lease.expires_at < now) | (Lease.holder == holder))
            .values(holder=holder, expires_at=now + ttl)
        ).rowcount
        if taken:
            return True
    try:
        with Session(engine) as session, session.begin():
            session.execute(insert(Lease).values(name=name, holder=holder, expires_at=now + ttl))
        return True
    except IntegrityError:
        return False  # the row exists and is held by someone else


def release(engine: Engine, name: str, holder: str) -> None:
    with Session(engine) as session, session.begin():
        session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))


@contextmanager
def lease(engine: Engine, name: str, holder: str, ttl: timedelta) -> Iterator[None]:
    if not try_acquire(engine, name, holder, ttl):
        raise LeaseBusy(f"'{name}' is held by another run; try again when it finishes")
    try:
        yield
    finally:
        release(engine, name, holder)
