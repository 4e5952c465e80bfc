"""The status page's numbers as metric samples, for a Prometheus scrape and an InfluxDB push.

Computed by the same code as the page (``group_status``), so a dashboard, the page and the plots never
disagree. One sample per (group, cloud) for cloud figures and per group or target alias for jobs; there
are no total rows (PromQL's ``sum`` makes them, and a total beside its parts double-counts). A limit the
site did not set (-1 in our tables) is left out rather than exported as a number. RAM is exported in
bytes, Prometheus's base unit (our tables hold MB).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from include.status.freshness import Light
from include.status.tables import JOB_STATUS, GroupStatus, group_status
from include.store.models import PlanRun

MB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    name: str  # without the ``cloudscheduler_`` prefix
    labels: tuple[tuple[str, str], ...]
    value: float


# name -> (help, label names); the one list of what we export, in the order it is exported
FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "jobs": ("jobs by state; alias '' is the whole group", ("group", "alias", "state")),
    "foreign_jobs": ("jobs in the group's pool that belong to no group", ("group",)),
    "vms": ("our VMs by derived state", ("group", "cloud", "state")),
    "slots": ("startd slots of our VMs", ("group", "cloud")),
    "slot_cores": ("cores of those slots", ("group", "cloud")),
    "busy_cores": ("cores of slots running a job", ("group", "cloud")),
    "idle_cores": ("cores of slots running nothing", ("group", "cloud")),
    "cores_used": ("cores of our VMs", ("group", "cloud")),
    "cores_limit": ("cores we may use: the least of quota, control and soft max", ("group", "cloud")),
    "cores_quota": ("the cloud's core quota", ("group", "cloud")),
    "ram_used_bytes": ("RAM of our VMs", ("group", "cloud")),
    "ram_limit_bytes": ("RAM we may use", ("group", "cloud")),
    "ram_quota_bytes": ("the cloud's RAM quota", ("group", "cloud")),
    "foreign_vms": ("VMs of other users in the same project", ("group", "cloud")),
    "foreign_cores": ("their cores", ("group", "cloud")),
    "foreign_ram_bytes": ("their RAM", ("group", "cloud")),
    "boot_failures": ("boot failures in a row, summed over the cloud's flavours", ("group", "cloud")),
    "backoffs": ("flavours (or the whole cloud) backing off or disabled after failures", ("group", "cloud")),
    "poll_ok": (
        "1 while the source's data is fresh and its last poll worked (light ok)",
        ("group", "source"),
    ),
    "poll_age_seconds": ("seconds since the source last polled successfully", ("group", "source")),
    "unserved_jobs": (
        "idle jobs the last scheduling run left unserved, by reason",
        ("group", "cloud", "reason"),
    ),
    "plan_duration_seconds": ("how long the group's last scheduling run took", ("group",)),
}


def samples(session: Session, groups: list[str], now: datetime) -> list[Sample]:
    statuses = group_status(session, groups, now)
    out = [s for g in statuses for s in _group_samples(g, now)]
    out += _plan_durations(session, [g.name for g in statuses])
    return out


def _group_samples(g: GroupStatus, now: datetime) -> Iterator[Sample]:
    for counts in g.jobs:
        alias = counts.alias or ""
        for state in (*JOB_STATUS.values(), "other"):
            yield _s("jobs", getattr(counts, state), group=g.name, alias=alias, state=state)
    yield _s("foreign_jobs", g.foreign_jobs, group=g.name)
    for c in g.clouds:
        where = {"group": g.name, "cloud": c.name}
        for state, n in c.vms.items():
            yield _s("vms", n, **where, state=state)
        for name, value in (
            ("slots", c.slots),
            ("slot_cores", c.slot_cores),
            ("busy_cores", c.busy_cores),
            ("idle_cores", c.idle_cores),
            ("cores_used", c.cores_used),
            ("ram_used_bytes", c.ram_used * MB),
            ("foreign_vms", c.foreign_vms),
            ("foreign_cores", c.foreign_cores),
            ("foreign_ram_bytes", c.foreign_ram * MB),
            ("boot_failures", c.backoff.failures),
            ("backoffs", len(c.backoff.backing_off) + len(c.backoff.disabled)),
        ):
            yield _s(name, value, **where)
        for name, value, scale in (
            ("cores_limit", c.cores_limit, 1),
            ("cores_quota", c.cores_quota, 1),
            ("ram_limit_bytes", c.ram_limit, MB),
            ("ram_quota_bytes", c.ram_quota, MB),
        ):
            if value >= 0:
                yield _s(name, value * scale, **where)
    for f in g.freshness:  # each pool part, each cloud, and the scheduling run
        yield _s("poll_ok", int(f.light == Light.OK), group=g.name, source=f.source)
        age = f.age_s(now)
        if age is not None:  # never succeeded: no age to give; poll_ok says 0
            yield _s("poll_age_seconds", round(age, 3), group=g.name, source=f.source)
    for skip in g.unserved:
        yield _s("unserved_jobs", skip.jobs, group=g.name, cloud=skip.cloud_name or "", reason=skip.reason)


def _plan_durations(session: Session, groups: list[str]) -> Iterable[Sample]:
    """The latest real scheduling run of each group (a run of all groups counts for each)."""
    if not groups:
        return []
    latest = (
        select(PlanRun.group_name, func.max(PlanRun.id).label("id"))
        .where(PlanRun.dry_run.is_(False))
        .group_by(PlanRun.group_name)
        .subquery()
    )
    rows = session.execute(
        select(PlanRun.group_name, PlanRun.id, PlanRun.duration_s).join(latest, PlanRun.id == latest.c.id)
    ).all()
    by_group = {g: (i, d) for g, i, d in rows}
    out = []
    for g in groups:
        mine, every = by_group.get(g), by_group.get(None)
        best = max((r for r in (mine, every) if r is not None), default=None)
        if best is not None:
            out.append(_s("plan_duration_seconds", round(best[1], 3), group=g))
    return out


def _s(name: str, value: float, **labels: str) -> Sample:
    return Sample(name, tuple(labels.items()), float(value))
