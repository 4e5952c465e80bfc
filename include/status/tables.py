"""The status page's tables, computed from the store (csv2 6.2, semantics.md "Status and timeseries").

Per group: the jobs table (per target alias, with a group total), the clouds table (VMs by derived
state, slots, cores and RAM used vs control vs quota, foreign usage, volumes, back-offs, poll
freshness) with a group total row, the freshness lights, and why demand was left unserved in the last
scheduling run. A handful of grouped queries, whatever the number of VMs and jobs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from include.condor.pools import pool_key  # no HTCondor bindings behind it
from include.config.settings import load_settings
from include.scheduler.states import VmState, VmStatus
from include.status.freshness import Freshness, light, worst
from include.status.limits import effective_limit
from include.status.skips import SkipSummary, latest_skips
from include.status.vms import state_counts
from include.store.freshness import POOL, cloud_source
from include.store.models import Backoff, Cloud, CloudLimits, Group, Job, PollStatus, Vm

VM_STATES = (
    VmState.STARTING,
    VmState.UNREGISTERED,
    VmState.IDLE,
    VmState.RUNNING,
    VmState.RETIRING,
    VmState.MANUAL,
    VmState.ERROR,
)
JOB_STATUS = {1: "idle", 2: "running", 4: "completed", 5: "held"}  # HTCondor JobStatus; the rest: other


@dataclass
class JobCounts:
    alias: str | None  # None: the group total
    total: int = 0
    idle: int = 0
    running: int = 0
    completed: int = 0
    held: int = 0
    other: int = 0
    idle_by_cores: dict[int, int] = field(default_factory=dict)

    def add(self, status: int, cores: int, n: int) -> None:
        self.total += n
        word = JOB_STATUS.get(status, "other")
        setattr(self, word, getattr(self, word) + n)
        if word == "idle":
            self.idle_by_cores[cores] = self.idle_by_cores.get(cores, 0) + n


@dataclass
class BackoffSummary:
    failures: int = 0
    backing_off: list[tuple[str, datetime]] = field(default_factory=list)  # (flavor or '', until)
    disabled: list[str] = field(default_factory=list)
    last_error: str | None = None


@dataclass
class CloudStatus:
    group_name: str
    name: str  # '' for the group total row
    cloud_type: str = ""
    enabled: bool = True
    paused: bool = False
    priority: int = 0
    vms: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in VM_STATES})
    slots: int = 0
    slot_cores: int = 0
    busy_cores: int = 0
    idle_cores: int = 0
    cores_used: int = 0
    cores_ctl: int = -1
    cores_softmax: int = -1
    cores_quota: int = -1
    cores_limit: int = -1
    ram_used: int = 0
    ram_ctl: int = -1
    ram_quota: int = -1
    ram_limit: int = -1
    foreign_vms: int = 0
    foreign_cores: int = 0
    foreign_ram: int = 0
    volume_gb_used: int = 0
    volume_gb_max: int = -1
    backoff: BackoffSummary = field(default_factory=BackoffSummary)
    freshness: Freshness | None = None
    unserved_jobs: int = 0
    adopted_vms: int = 0  # of the VMs, those booted by cloudscheduler v2 and adopted at the import

    @property
    def vms_total(self) -> int:
        return sum(self.vms.values())


SUMMED = (
    "slots",
    "slot_cores",
    "busy_cores",
    "idle_cores",
    "cores_used",
    "ram_used",
    "foreign_vms",
    "foreign_cores",
    "foreign_ram",
    "volume_gb_used",
    "unserved_jobs",
    "adopted_vms",
)
SUMMED_LIMITS = (
    "cores_ctl",
    "cores_softmax",
    "cores_quota",
    "cores_limit",
    "ram_ctl",
    "ram_quota",
    "ram_limit",
    "volume_gb_max",
)


@dataclass
class GroupStatus:
    name: str
    jobs: list[JobCounts]  # the group total first, then one row per target alias
    foreign_jobs: int
    clouds: list[CloudStatus]
    total: CloudStatus
    freshness: list[Freshness]  # pool parts, clouds, then the scheduling run
    unserved: list[SkipSummary]
    planned_at: datetime | None


def group_status(session: Session, groups: list[str], now: datetime) -> list[GroupStatus]:
    """The status tables of ``groups`` (those that exist), in name order."""
    settings = load_settings(session)
    names = sorted(session.scalars(select(Group.name).where(Group.name.in_(groups))))
    if not names:
        return []
    clouds = _clouds(session, names)
    _add_vms(session, names, clouds)
    _add_limits(session, names, clouds)
    _add_backoffs(session, names, clouds, now)
    polls = _freshness(session, names, now, settings.stale_after)
    for (group, cloud), status in clouds.items():
        status.freshness = polls.get(group, {}).get(cloud_source(group, cloud))
    jobs = _jobs(session, names)
    foreign = _foreign_jobs(session, names)
    skips, planned = latest_skips(session, names)
    result = []
    for g in names:
        rows = sorted((c for (grp, _), c in clouds.items() if grp == g), key=lambda c: (c.priority, c.name))
        for skip in skips.get(g, []):
            for c in rows:
                if c.name == skip.cloud_name:
                    c.unserved_jobs += skip.jobs
        lights = sorted(polls.get(g, {}).values(), key=lambda f: (not f.source.startswith(POOL), f.source))
        lights.append(_schedule_light(g, planned.get(g), now, settings.stale_after))
        result.append(
            GroupStatus(
                name=g,
                jobs=jobs.get(g, [JobCounts(None)]),
                foreign_jobs=foreign.get(g, 0),
                clouds=rows,
                total=_total(g, rows),
                freshness=lights,
                unserved=skips.get(g, []),
                planned_at=planned.get(g),
            )
        )
    return result


def _clouds(session: Session, groups: list[str]) -> dict[tuple[str, str], CloudStatus]:
    out = {}
    for c in session.scalars(select(Cloud).where(Cloud.group_name.in_(groups))):
        out[(c.group_name, c.name)] = CloudStatus(
            group_name=c.group_name,
            name=c.name,
            cloud_type=c.cloud_type,
            enabled=c.enabled,
            paused=c.paused,
            priority=c.priority,
            cores_ctl=c.cores_ctl,
            cores_softmax=c.cores_softmax,
            ram_ctl=c.ram_ctl,
        )
    return out


def _add_vms(session: Session, groups: list[str], clouds: dict[tuple[str, str], CloudStatus]) -> None:
    for n in state_counts(session, groups):
        c = clouds.get((n.group_name, n.cloud_name))
        if c is None:  # a VM of a cloud removed from the configuration: still counted in the total
            c = clouds[(n.group_name, n.cloud_name)] = CloudStatus(n.group_name, n.cloud_name, enabled=False)
        c.vms[n.state.value] = c.vms.get(n.state.value, 0) + n.vms
        c.slots += n.slots
        c.slot_cores += n.slot_cores
        c.busy_cores += n.busy_cores
        c.idle_cores += n.idle_cores
        c.cores_used += n.cores
        c.ram_used += n.ram_mb
    adopted = (
        select(Vm.group_name, Vm.cloud_name, func.count())
        .where(Vm.group_name.in_(groups), Vm.adopted_from.is_not(None), Vm.status != VmStatus.GONE.value)
        .group_by(Vm.group_name, Vm.cloud_name)
    )
    for group, cloud, n in session.execute(adopted):
        if (c := clouds.get((group, cloud))) is not None:
            c.adopted_vms = n


def _add_limits(session: Session, groups: list[str], clouds: dict[tuple[str, str], CloudStatus]) -> None:
    limits = {
        (r.group_name, r.cloud_name): r
        for r in session.scalars(select(CloudLimits).where(CloudLimits.group_name.in_(groups)))
    }
    for key, c in clouds.items():
        lim = limits.get(key)
        if lim is not None:
            c.cores_quota, c.ram_quota = lim.cores_max, lim.ram_max_mb
            c.foreign_vms, c.foreign_cores, c.foreign_ram = (
                lim.foreign_vms,
                lim.foreign_cores,
                lim.foreign_ram_mb,
            )
            c.volume_gb_used, c.volume_gb_max = lim.volume_gb_used, lim.volume_gb_max
        c.cores_limit = effective_limit(
            c.cores_ctl, (c.cores_softmax, c.foreign_cores), (c.cores_quota, c.foreign_cores)
        )
        c.ram_limit = effective_limit(c.ram_ctl, (c.ram_quota, c.foreign_ram))


def _add_backoffs(
    session: Session, groups: list[str], clouds: dict[tuple[str, str], CloudStatus], now: datetime
) -> None:
    query = select(Backoff).where(Backoff.group_name.in_(groups)).order_by(Backoff.last_failure_at)
    for b in session.scalars(query):
        c = clouds.get((b.group_name, b.cloud_name))
        if c is None:
            continue
        c.backoff.failures += b.failures
        if b.disabled:
            c.backoff.disabled.append(b.flavor)
        elif b.until is not None and b.until > now:
            c.backoff.backing_off.append((b.flavor, b.until))
        if b.last_error:
            c.backoff.last_error = b.last_error


def _freshness(session: Session, groups: list[str], now: datetime, stale_after: int) -> dict[str, dict]:
    out: dict[str, dict[str, Freshness]] = defaultdict(dict)
    for p in session.scalars(select(PollStatus).where(PollStatus.group_name.in_(groups))):
        out[p.group_name][p.source] = Freshness(
            source=p.source,
            light=light(ok=p.ok, last_success=p.last_success, now=now, stale_after=stale_after),
            last_success=p.last_success,
            last_attempt=p.last_attempt,
            error=p.error,
            failures=p.consecutive_failures,
        )
    return out


def _schedule_light(group: str, planned: datetime | None, now: datetime, stale_after: int) -> Freshness:
    return Freshness(
        source=f"schedule/{group}",
        last_success=planned,
        last_attempt=planned,
        error=None,
        light=light(ok=True, last_success=planned, now=now, stale_after=stale_after),
    )


def _jobs(session: Session, groups: list[str]) -> dict[str, list[JobCounts]]:
    query = (
        select(Job.group_name, Job.target_alias, Job.status, Job.cores, func.count())
        .where(Job.group_name.in_(groups))
        .group_by(Job.group_name, Job.target_alias, Job.status, Job.cores)
    )
    totals: dict[str, JobCounts] = {}
    by_alias: dict[tuple[str, str], JobCounts] = {}
    for group, alias, status, cores, n in session.execute(query):
        totals.setdefault(group, JobCounts(None)).add(status, cores, n)
        if alias:
            by_alias.setdefault((group, alias), JobCounts(alias)).add(status, cores, n)
    return {g: [t] + [by_alias[k] for k in sorted(by_alias) if k[0] == g] for g, t in totals.items()}


def _foreign_jobs(session: Session, groups: list[str]) -> dict[str, int]:
    """Jobs in a group's pool that belong to no group (the pool's key as the pool poller writes it)."""

    query = select(Job.pool, func.count()).where(Job.group_name.is_(None)).group_by(Job.pool)
    per_pool = dict(session.execute(query).all())
    if not per_pool:
        return {}
    rows = session.execute(select(Group.name, Group.pool_kind, Group.collector).where(Group.name.in_(groups)))
    return {name: per_pool.get(pool_key(kind, collector), 0) for name, kind, collector in rows}


def _total(group: str, rows: list[CloudStatus]) -> CloudStatus:
    total = CloudStatus(group_name=group, name="")
    for c in rows:
        for state, n in c.vms.items():
            total.vms[state] = total.vms.get(state, 0) + n
        for name in SUMMED:
            setattr(total, name, getattr(total, name) + getattr(c, name))
        total.backoff.failures += c.backoff.failures
    for name in SUMMED_LIMITS:  # a total of limits only where every cloud sets one
        values = [getattr(c, name) for c in rows]
        setattr(total, name, sum(values) if values and min(values) >= 0 else -1)
    lights = [c.freshness.light for c in rows if c.freshness is not None]
    if lights:
        total.freshness = Freshness(cloud_source(group, "*"), worst(lights), None, None, None)
    return total
