"""The end of a scheduling run: forget VMs the clouds deleted, write the cycle's timeseries samples
(and push them to InfluxDB where the site has one), give the run's leases back."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from include.loop import influx
from include.loop.planning import release_run, settings_now
from include.loop.pool import forget_gone
from include.loop.pool_poll import current_specs
from include.loop.timeseries import sample
from include.pools import connect_pool
from include.store.db import get_engine, session_scope
from include.store.models import Group, utcnow


def finish_run(work: list[dict[str, Any]], now: datetime | None = None) -> dict[str, Any]:
    """``finish_cycle`` for a run of ``cs_schedule``: releases the leases its work items carried."""
    fences: dict[str, int] = {}
    holder = None
    for item in work or ():
        lease = item.get("lease") or {}
        holder = holder or lease.get("holder")
        fences.update(lease.get("fences") or {})
    return finish_cycle(now=now, lease={"holder": holder, "fences": fences} if holder else None)


def finish_cycle(
    groups: list[str] | None = None, now: datetime | None = None, lease: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Forget VMs the clouds deleted, then write this cycle's timeseries samples (every group by default);
    release the run's ``lease`` (after its acts, whatever became of them)."""
    release_run(lease)

    now = now or utcnow()
    engine = get_engine()
    settings = settings_now()
    if groups is None:
        with session_scope() as session:
            groups = sorted(session.scalars(select(Group.name)))
    keep = timedelta(seconds=2 * settings.cloud_poll_interval)
    removed = []
    for spec in current_specs(engine):
        mine = [g.name for g in spec.groups if g.name in groups]
        if mine:
            removed += forget_gone(engine, connect_pool(spec, engine, now), mine, now, keep)
    with session_scope() as session:
        samples = sample(session, now, groups)
        points = influx.lines(session, groups, now) if influx.configured() else []
    result: dict[str, Any] = {"forgotten": removed, "samples": samples}
    if points:  # outside the transaction: a slow InfluxDB holds no database connection
        result["influx"] = influx.push(points) or f"{len(points)} points written"
    return result
