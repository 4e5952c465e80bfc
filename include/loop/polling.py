"""Polling task bodies: the pools (every group's once per cycle) and each cloud (mapped, one task per
cloud). Each opens its own sessions; what goes through XCom stays small (counts, never snapshots)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from include.clouds import connect_by_name
from include.loop.cloud_poll import poll_cloud as poll
from include.loop.inventory import write_poll_status
from include.loop.pool_poll import current_specs, poll_one
from include.providers.base import ProviderError
from include.store.db import get_engine, session_scope
from include.store.models import Cloud, Vm, utcnow


def poll_pools(now: datetime | None = None) -> list[dict[str, Any]]:
    """Advance simulated pools to now and poll every pool once (all groups sharing it)."""

    now = now or utcnow()
    engine = get_engine()
    reports = []
    for spec in current_specs(engine):
        report = poll_one(engine, spec, now)
        reports.append({"pool": spec.key, "stale": sorted(report.stale), **_counts(report)})
    return reports


def clouds_to_poll() -> list[dict[str, str]]:
    """Enabled clouds, and disabled ones that still have VMs (their VMs must be seen to be deleted)."""
    with session_scope() as session:
        with_vms = set(session.execute(select(Vm.group_name, Vm.cloud_name).distinct()).all())
        rows = session.execute(
            select(Cloud.group_name, Cloud.name, Cloud.enabled).order_by(Cloud.group_name, Cloud.name)
        ).all()
    return [{"group": g, "cloud": c} for g, c, enabled in rows if enabled or (g, c) in with_vms]


def poll_cloud(group: str, cloud: str, now: datetime | None = None) -> dict[str, Any]:

    now = now or utcnow()
    engine = get_engine()
    adapter, error = cloud_adapter(group, cloud, engine, now)
    if adapter is None:
        _mark_cloud_failed(group, cloud, now, error)
        return {"group": group, "cloud": cloud, "ok": False, "error": error}
    result = poll(engine, group, cloud, adapter, now)
    return {"group": group, "cloud": cloud, **_counts(result)}


def cloud_adapter(group: str, cloud: str, engine, now: datetime):
    """(the cloud's adapter, None) or (None, why not); a simulated cloud runs on the cycle's clock."""
    try:
        return connect_by_name(engine, group, cloud, clock=lambda: now), None
    except ProviderError as err:
        return None, err.message


def _mark_cloud_failed(group: str, cloud: str, now: datetime, error: str | None) -> None:

    with session_scope() as session:
        write_poll_status(session, group, cloud, now, error)


def _counts(report: Any) -> dict[str, Any]:
    values = report.__dict__ if hasattr(report, "__dict__") else report._asdict()
    return {k: v for k, v in values.items() if isinstance(v, int | float | bool | str) or v is None}
