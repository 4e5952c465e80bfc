"""Polling task bodies: the pools (every group's once per cycle) and the clouds (mapped: one task per
batch of clouds, each cloud in its own thread). Each opens its own sessions; what goes through XCom stays
small (counts, never snapshots)."""

from __future__ import annotations

import os
import threading
import time
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


# At most this many mapped poll tasks per cs_poll_clouds run. Starting a task process costs about a second
# of CPU: at 50 clouds, one task per cloud was most of a 2-core machine's time and made every loop DAG
# wait for a slot (P10 in bench/README.md). Up to this many clouds, each still has a task of its own.
POLL_TASKS = max(1, int(os.environ.get("CS_CLOUD_POLL_TASKS", "8")))


def cloud_batches(tasks: int = POLL_TASKS) -> list[list[dict[str, str]]]:
    """:func:`clouds_to_poll` in at most ``tasks`` batches of neighbours, as even as can be."""
    clouds = clouds_to_poll()
    if not clouds:
        return []
    n = min(len(clouds), max(1, tasks))
    size, extra = divmod(len(clouds), n)  # the first ``extra`` batches take one cloud more
    starts = [i * size + min(i, extra) for i in range(n + 1)]
    return [clouds[a:b] for a, b in zip(starts, starts[1:], strict=False)]


class CloudPollsFailed(RuntimeError):
    """Some clouds of a batch raised or overran; the others' polls are written all the same."""


def poll_batch(batch: list[dict[str, str]], deadline_s: float, now: datetime | None = None) -> list[dict]:
    """Poll each cloud of ``batch`` in a thread of its own (cloud APIs are I/O-bound and independent):
    a slow or failing cloud holds up none of the others. A cloud still polling after ``deadline_s`` is
    marked failed (its snapshot stale: no boots or deletes there) and left behind. Raises
    :class:`CloudPollsFailed` at the end if any cloud raised or overran, so the task shows it."""
    now = now or utcnow()
    results: list[dict | None] = [None] * len(batch)
    errors: dict[int, str] = {}

    def run(i: int, c: dict[str, str]) -> None:
        try:
            results[i] = poll_cloud(c["group"], c["cloud"], now)
        except Exception as err:  # noqa: BLE001 - reported below, with the cloud it belongs to
            errors[i] = f"{type(err).__name__}: {err}"

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(batch)]
    for t in threads:
        t.start()
    end = time.monotonic() + deadline_s
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    for i, c in enumerate(batch):
        if results[i] is None and i not in errors:
            errors[i] = f"poll did not finish within {deadline_s:.0f} s"
            _mark_cloud_failed(c["group"], c["cloud"], now, errors[i])
    if errors:
        raise CloudPollsFailed(
            "; ".join(f"{batch[i]['group']}/{batch[i]['cloud']}: {why}" for i, why in sorted(errors.items()))
        )
    return [r for r in results if r is not None]


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
