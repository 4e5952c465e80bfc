"""The simulated pool: the same protocol as the real one, over the queue and startds in our store.

Its jobs and slots are turned into real ClassAds and normalised by the same code as a real pool's, so
the poller cannot tell them apart. Time moves only in :func:`include.simulated.negotiator.advance`; this
module submits jobs, answers queries, takes retire and invalidate commands, and injects outages.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from include.condor.classads import RUNNING, job_record, machine_record
from include.condor.constraints import identical
from include.condor.pools import SIMULATED, pool_key
from include.condor.records import (
    MachineNotFound,
    MachineRecord,
    PoolSpec,
    PoolUnreachable,
    RetireHow,
    RetireResult,
    ScheddJobs,
)
from include.simulated.negotiator import DEFRAG_REASON, end_drain, evict, start_drain
from include.simulated.queue import (
    DEFAULT_SCHEDD,
    MACHINE_BASICS,
    SUBMIT_REQUIREMENTS,
    UID_DOMAIN,
    global_job_id,
    job_ad,
    lock_pool,
)
from include.store.db import session_scope
from include.store.models import Group, SimJob, SimPool, SimStartd


def slot_ads(startd, running: Sequence) -> list:
    """The partitionable slot of a startd (its free resources) and one dynamic slot per running job."""
    import classad2

    used_cpus = sum(j.request_cpus for j in running)
    used_mem = sum(j.request_memory_mb for j in running)
    drained = startd.drain_started_at is not None  # condor_defrag's drain or ours (negotiator.py)
    draining = startd.retire_requested_at is not None or drained
    drain_how = drained or (draining and startd.retire_how == RetireHow.DRAIN)
    common = {**MACHINE_BASICS, **(startd.attrs or {}), "Machine": startd.machine}
    ads = [
        classad2.ClassAd(
            {
                **common,
                "Name": f"slot1@{startd.machine}",
                "SlotType": "Partitionable",
                "State": "Drained" if drain_how else "Unclaimed",
                "Activity": "Retiring" if drain_how else "Idle",
                "Cpus": startd.cores - used_cpus,
                "Memory": startd.memory_mb - used_mem,
                "Disk": startd.disk_kb - sum(j.request_disk_kb for j in running),
                "TotalSlotCpus": startd.cores,
                "TotalSlotMemory": startd.memory_mb,
                "EnteredCurrentState": int(startd.state_changed_at.timestamp()),
                "Draining": drain_how,
                **({"DrainReason": startd.drain_reason or DEFRAG_REASON} if drained else {}),
            }
        )
    ]
    for j in running:
        ads.append(
            classad2.ClassAd(
                {
                    **common,
                    "Name": f"slot1_{j.slot_id}@{startd.machine}",
                    "SlotType": "Dynamic",
                    "State": "Claimed",
                    "Activity": "Retiring" if draining else "Busy",
                    "Cpus": j.request_cpus,
                    "Memory": j.request_memory_mb,
                    "TotalSlotCpus": j.request_cpus,
                    "TotalSlotMemory": j.request_memory_mb,
                    "EnteredCurrentState": int(j.started_at.timestamp()),
                    "RemoteOwner": f"{j.owner}@{UID_DOMAIN}",
                    "GlobalJobId": global_job_id(j),
                }
            )
        )
    return ads


class SimulatedPool:
    """One simulated pool; ``now`` is its clock for retire and forget (a task's logical time)."""

    def __init__(self, spec: PoolSpec, engine, now: datetime):
        self.spec, self.engine, self.now = spec, engine, now

    def _down(self, session) -> set[str]:

        row = session.get(SimPool, self.spec.key)
        return set(row.down or ()) if row else set()

    def _unreachable(self, part: str) -> PoolUnreachable:
        return PoolUnreachable(self.spec.key, part, "connection refused (simulated outage)")

    def jobs(self) -> list[ScheddJobs]:

        with session_scope(self.engine) as s:
            down = self._down(s)
            rows = list(s.scalars(select(SimJob).where(SimJob.pool == self.spec.key)))
        names = self.spec.schedds
        if not names:
            if "collector" in down:  # the schedds are located through the collector
                raise self._unreachable("collector")
            names = tuple(sorted({DEFAULT_SCHEDD, *(j.schedd for j in rows)}))
        defaults = self.spec.defaults
        out = []
        for name in names:
            if f"schedd:{name}" in down:
                out.append(ScheddJobs(name, error=self._unreachable(f"schedd:{name}")))
                continue
            records = [
                job_record(job_ad(j), pool=self.spec.key, schedd=name, defaults=defaults)
                for j in rows
                if j.schedd == name
            ]
            out.append(ScheddJobs(name, [r for r in records if r]))
        return out

    def machines(self) -> list[MachineRecord]:

        with session_scope(self.engine) as s:
            if "collector" in self._down(s):
                raise self._unreachable("collector")
            startds = list(
                s.scalars(
                    select(SimStartd)
                    .where(SimStartd.pool == self.spec.key, SimStartd.left_at.is_(None))
                    .order_by(SimStartd.machine)
                )
            )
            running = list(
                s.scalars(select(SimJob).where(SimJob.pool == self.spec.key, SimJob.status == RUNNING))
            )
        on: dict[str, list] = {}
        for j in running:
            on.setdefault(j.machine, []).append(j)
        out = []
        for sd in startds:
            for ad in slot_ads(sd, sorted(on.get(sd.machine, []), key=lambda j: j.slot_id)):
                out.append(machine_record(ad, pool=self.spec.key, deployment=self.spec.deployment))
        return out

    def _startd(self, session, machine: str):

        if "collector" in self._down(session):
            raise self._unreachable("collector")
        sd = session.get(SimStartd, (self.spec.key, machine))
        if sd is None or sd.left_at is not None:
            raise MachineNotFound(self.spec.key, "collector", f"no master or startd ad for {machine}")
        return sd

    def retire(self, machine: str, how: RetireHow = RetireHow.PEACEFUL) -> RetireResult:
        """The startd accepts no new job, finishes its running ones, then leaves (at ``advance``)."""
        with session_scope(self.engine) as s:
            lock_pool(s, self.spec.key)
            sd = self._startd(s, machine)
            if sd.retire_requested_at is None:
                sd.retire_requested_at, sd.retire_how = self.now, str(how)
            return RetireResult(machine, RetireHow(sd.retire_how), "simulated")

    def drain(self, machine: str, reason: str) -> bool:
        """Graceful, resume on completion: the startd takes no new job; it resumes once its jobs end
        (at ``advance``) or when the drain is cancelled."""
        with session_scope(self.engine) as s:
            lock_pool(s, self.spec.key)
            sd = self._startd(s, machine)
            if sd.drain_started_at is not None or sd.retire_requested_at is not None:
                return False  # already draining (a retire drains too): as HTCondor refuses a second drain
            start_drain(sd, self.now, reason)
            return True

    def undrain(self, machine: str, ours: str) -> bool:
        with session_scope(self.engine) as s:
            lock_pool(s, self.spec.key)
            sd = self._startd(s, machine)
            if sd.drain_started_at is None or not (sd.drain_reason or "").startswith(ours):
                return False
            end_drain(sd, self.now)
            return True

    def forget(self, machine: str) -> None:
        """Invalidate the machine's ads: its startd leaves now and a job it ran goes back to idle."""

        with session_scope(self.engine) as s:
            lock_pool(s, self.spec.key)
            try:
                sd = self._startd(s, machine)
            except MachineNotFound:
                return
            evict(s, sd, self.now, reason="invalidated")


def submit_jobs(
    engine,
    group: str,
    count: int,
    *,
    now: datetime,
    cores: int = 1,
    ram_mb: int = 1000,
    disk_gb: float = 1.0,
    duration_s: int = 600,
    owner: str = "demo",
    target_alias: str | None = None,
    attrs: dict | None = None,
    schedd: str = DEFAULT_SCHEDD,
    held: bool = False,
    requirements: str | None = None,
) -> list[str]:
    """Queue ``count`` jobs (one cluster) of ``group`` in its simulated pool; returns their GlobalJobIds.

    The jobs target the group (and alias) through their Requirements, as real users' submit files do;
    ``attrs`` adds job attributes such as ``VMImage``, ``VMInstanceType``, ``VMKeepAlive``, ``JobPrio``;
    ``requirements``, a clause of the user's own (``TARGET.HasGPU =?= true``)."""

    if count < 1 or cores < 1 or ram_mb < 1 or duration_s < 0:
        raise ValueError("count, cores and ram_mb must be positive and duration_s not negative")
    with session_scope(engine) as s:
        g = s.get(Group, group)
        if g is None or g.pool_kind != SIMULATED:
            raise ValueError(f"group {group!r} has no simulated pool")
        pool = lock_pool(s, pool_key(g.pool_kind, g.collector))
        cluster, pool.next_cluster = pool.next_cluster, pool.next_cluster + 1
        clauses = [identical("TARGET.group_name", group)]
        if target_alias:
            clauses.append(identical("TARGET.target_alias", target_alias))
        if requirements:
            clauses.append(requirements)
        requirements = " && ".join(f"({c})" for c in clauses) + " && " + SUBMIT_REQUIREMENTS
        jobs = [
            SimJob(
                pool=pool.name,
                cluster_id=cluster,
                proc_id=i,
                schedd=schedd,
                owner=owner,
                status=5 if held else 1,
                request_cpus=cores,
                request_memory_mb=ram_mb,
                request_disk_kb=int(disk_gb * 1024 * 1024),
                requirements=requirements,
                attrs=dict(attrs or {}),
                duration_s=duration_s,
                q_date=now,
                entered_status_at=now,
                hold_reason="submitted on hold" if held else None,
            )
            for i in range(count)
        ]
        s.add_all(jobs)
        s.flush()
        return [global_job_id(j) for j in jobs]


def set_outage(engine, key: str, parts: Sequence[str]) -> None:
    """Inject an outage: ``collector`` and/or ``schedd:<name>`` stop answering until cleared with []."""
    with session_scope(engine) as s:
        lock_pool(s, key).down = sorted(set(parts))
