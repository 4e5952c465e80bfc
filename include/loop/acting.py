"""The act task bodies: one cloud's boot requests and deletes, or one pool's retires, each only while
the run that planned them still holds its lease (``planning.still_ours``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from include.airflow_glue import worker_secrets
from include.condor.pools import pool_spec
from include.config.settings import load_settings
from include.loop.act import act_on_cloud
from include.loop.planning import settings_now, still_ours
from include.loop.polling import cloud_adapter
from include.loop.pool import drain_vms, retire_vms
from include.pools import connect_pool
from include.scheduler.fleet import ROOM_DRAIN
from include.store.db import get_engine, session_scope
from include.store.models import utcnow


def act_on(work: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    return act_cloud(work, now) if work["kind"] == "cloud" else act_pool(work, now)


def act_cloud(work: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:

    now = now or utcnow()
    engine = get_engine()
    lease = work.get("lease")
    if not still_ours(lease, now):
        return {
            "group": work["group"],
            "cloud": work["cloud"],
            "fenced": True,
            "errors": ["this run no longer holds the group's lease: a newer run acts instead"],
        }
    adapter, error = cloud_adapter(work["group"], work["cloud"], engine, now)
    if adapter is None:
        return {"group": work["group"], "cloud": work["cloud"], "errors": [error]}
    started = utcnow()  # the act's clock: its ``now``, advanced by the time the act itself has taken
    return act_on_cloud(
        engine,
        work["group"],
        work["cloud"],
        adapter,
        now,
        settings_now(),
        work["deletes"],
        worker_secrets(work["group"]),
        still_ours=lambda: still_ours(lease, now + (utcnow() - started)),
    ).as_dict()


def act_pool(work: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:

    now = now or utcnow()
    engine = get_engine()
    if not still_ours(work.get("lease"), now):
        return {
            "pool": work["pool"],
            "fenced": True,
            "retired": {},
            "unsent": [],
            "forgotten": [],
            "drained": [],
            "undrained": [],
            "errors": ["this run no longer holds the groups' leases: a newer run acts instead"],
        }
    with session_scope() as session:
        spec = pool_spec(session, work["pool"], load_settings(session).deployment_id)
    pool = connect_pool(spec, engine, now)
    out = retire_vms(engine, pool, work["retires"], now)
    return drain_vms(
        engine, pool, work.get("drains", {}), work.get("undrains", []), ROOM_DRAIN, out
    ).as_dict()
