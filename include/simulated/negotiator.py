"""Time in the simulated pool: ``advance(engine, pool, now)`` applies everything that happened up to
``now`` since the last call, in order, then writes the result back.

Events, each at its true time: a VM's startd registers ``register_delay_s`` after its instance became
active (unless ``never_register``); a job completes ``duration_s`` after it started; a retiring startd
leaves once its last job is done; a startd whose VM is deleted vanishes, and its jobs go back to idle
(evicted). A startd whose ``instance_id`` starts with ``external:`` runs on a machine outside the
simulation (a real cloud's VM, or one cloudscheduler v2 booted): it never vanishes, it leaves only when
retired or invalidated. Matching happens only at negotiation cycles, every ``negotiator_interval_s`` on a grid
aligned to the epoch, as a real negotiator's do: idle jobs by priority then age, each on a registered,
non-retiring startd whose free cores, memory and disk fit and against which the job's Requirements
evaluate to true with the real ClassAd evaluator. Which one is the pool's ``packing`` (``PACKINGS``).
Calling it often or rarely gives the same history; calling it twice with the same ``now`` is a no-op.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from include.condor.classads import COMPLETED, IDLE, INT_MAX, RUNNING, as_int
from include.condor.pools import SIMULATED, pool_key
from include.simulated.queue import MACHINE_BASICS, job_ad, lock_pool
from include.store.db import session_scope
from include.store.models import Cloud, Group, SimInstance, SimJob, SimStartd

EXTERNAL = "external:"  # the instance_id prefix of a startd on a machine the simulation does not run

# Where a job lands. Both rank startds as HTCondor's default NEGOTIATOR_PRE_JOB_RANK does for
# partitionable slots, ``- 100000 * Cpus - Memory``: best fit, the fewest free cores first, so work packs
# onto the fullest VMs (then the oldest, then by name, for a stable history).
# - "depth_first": the README's pool configuration, NEGOTIATOR_DEPTH_FIRST = True: the negotiator packs as
#   many jobs as fit onto one startd in a cycle, always choosing by the rank above.
# - "default": a pool as HTCondor ships (NEGOTIATOR_DEPTH_FIRST false, CLAIM_PARTITIONABLE_LEFTOVERS
#   true): a startd is matched once per cycle; the schedd then starts more jobs of the same request
#   (autocluster) on the claim's leftovers, while other requests go to other startds in that cycle.
PACKINGS = ("depth_first", "default")

# condor_defrag on the central manager, as the README configures it for multi-core jobs beside single-core
# ones (``sim_pools.defrag_whole_cores`` = N; 0, the default, is a pool without it, as HTCondor ships).
# As the daemon's poll (src/defrag/defrag.cpp) does, every DEFRAG_INTERVAL_S on the epoch grid it first
# cancels the drain of each VM with N cores free (DEFRAG_CANCEL_REQUIREMENTS = DEFRAG_WHOLE_MACHINE_EXPR
# = Cpus >= N), then starts drains: DEFRAG_PER_HOUR an hour, as int(rate x interval) per poll plus the
# rest at the first poll of each hour (2 an hour at a 600 s interval: both at the hour), at most
# DEFRAG_MAX_CONCURRENT draining at a time, on VMs that could hold N cores but have fewer free and are
# neither draining nor retiring: the fewest busy cores first, a stand-in for its default rank (the
# least work a graceful drain loses). A draining VM takes no job; its jobs run to their end (the VMs'
# startds allow it: MAXJOBRETIREMENTTIME), and it resumes the moment the last one ends (the daemon
# drains with resume on completion). Like the real daemon it does not look at the queue.
DEFRAG_INTERVAL_S = 600
DEFRAG_PER_HOUR = 2
DEFRAG_MAX_CONCURRENT = 2
DEFRAG_REASON = "Defrag DEFRAG@central-manager"  # "Defrag <daemon name>", as HTCondor 10.7 and later


def start_drain(startd, at: datetime, reason: str) -> None:
    """The startd drains from ``at``: it takes no new job; its ads say Drained with ``reason``."""
    startd.drain_started_at, startd.drain_reason = at, reason
    startd.state_changed_at = max(startd.state_changed_at, at)


def end_drain(startd, at: datetime) -> None:
    """Its drain ends (resumed or cancelled): it takes jobs again from the next negotiation."""
    startd.drain_started_at, startd.drain_reason = None, None
    startd.state_changed_at = max(startd.state_changed_at, at)


def is_defrag(startd) -> bool:
    """The startd's drain is condor_defrag's (a row from before drains had reasons: it was)."""
    return startd.drain_reason in (None, DEFRAG_REASON)


def external(startd) -> bool:
    return startd.instance_id.startswith(EXTERNAL)


@dataclass
class AdvanceReport:
    registered: int = 0
    started: int = 0
    completed: int = 0
    evicted: int = 0
    left: int = 0
    cycles: int = 0


def advance(engine, pool: str, now: datetime) -> AdvanceReport:
    """Move simulated pool ``pool`` to ``now`` (one transaction, serialised on the pool's row)."""
    with session_scope(engine) as s:
        return advance_in(s, pool, now)


def advance_in(session, pool: str, now: datetime) -> AdvanceReport:
    state = lock_pool(session, pool)
    if state.advanced_at is not None and now <= state.advanced_at:
        return AdvanceReport()
    interval = timedelta(seconds=max(1, state.negotiator_interval_s))
    start = state.advanced_at or now - interval
    world = _World(
        session,
        pool,
        now,
        state.packing,
        state.defrag_whole_cores or 0,
        _defrag_tick(start),
        multicore_first=bool(state.multicore_first),
    )
    defrag_every = timedelta(seconds=DEFRAG_INTERVAL_S) if world.defrag_cores else None
    for point, negotiate in _points(start, now, interval, defrag_every):
        world.step(point, negotiate)
    world.purge(now, timedelta(seconds=state.completed_retention_s))
    state.advanced_at = now
    return world.report


def _points(
    start: datetime, now: datetime, interval: timedelta, also: timedelta | None = None
) -> list[tuple[datetime, bool]]:
    """Negotiation cycle times in (start, now] on the epoch-aligned grid (and the times of the grid of
    ``also``, condor_defrag's polls, where they fall between), then ``now`` itself."""
    times = {t: True for t in _grid(start, now, interval)}
    for t in _grid(start, now, also) if also else ():
        times.setdefault(t, False)
    times.setdefault(now, False)
    return sorted(times.items())


def _grid(start: datetime, now: datetime, interval: timedelta) -> list[datetime]:
    step = interval.total_seconds()
    epoch = datetime(1970, 1, 1, tzinfo=now.tzinfo)
    k = int((start - epoch).total_seconds() // step) + 1
    out, t = [], epoch + timedelta(seconds=k * step)
    while t <= now:
        out.append(t)
        t += interval
    return out


def _defrag_tick(at: datetime) -> int:
    return int(at.timestamp()) // DEFRAG_INTERVAL_S


def _drains_due(last: int, tick: int) -> int:
    """Drains condor_defrag starts at poll ``tick`` after poll ``last``: int(rate x interval) per poll,
    and the rest of the hourly rate at the first poll of an hour (defrag.cpp's per_poll and
    per_poll_hour; its proration gives the whole rest to a poll within the hour's first interval)."""
    per_poll = DEFRAG_PER_HOUR * DEFRAG_INTERVAL_S // 3600
    per_hour = DEFRAG_PER_HOUR - per_poll * (3600 // DEFRAG_INTERVAL_S)
    new_hour = (tick * DEFRAG_INTERVAL_S) // 3600 != (last * DEFRAG_INTERVAL_S) // 3600
    return per_poll + (per_hour if new_hour else 0)


def evict(session, startd, at: datetime, reason: str) -> int:
    """The startd leaves the pool at ``at``; each job it ran goes back to idle. Returns the jobs evicted."""

    jobs = session.scalars(
        select(SimJob).where(
            SimJob.pool == startd.pool, SimJob.machine == startd.machine, SimJob.status == RUNNING
        )
    )
    n = 0
    for job in jobs:
        _requeue(job, at)
        n += 1
    startd.left_at, startd.left_reason = at, reason
    return n


def _requeue(job, at: datetime) -> None:
    job.status, job.entered_status_at, job.started_at = IDLE, at, None
    job.machine, job.slot_id, job.evictions = None, None, job.evictions + 1


def _finish(job) -> datetime:
    return job.started_at + timedelta(seconds=job.duration_s)


class _World:
    """The pool's state loaded once per ``advance``; the session writes back what changed."""

    def __init__(
        self,
        session,
        pool: str,
        now: datetime,
        packing: str = "depth_first",
        defrag_cores: int = 0,
        defrag_tick: int = 0,
        multicore_first: bool = False,
    ):
        if packing not in PACKINGS:
            raise ValueError(f"sim_pools.packing: {packing!r} is not one of {', '.join(PACKINGS)}")
        self.session, self.pool, self.report, self.packing = session, pool, AdvanceReport(), packing
        jobs = list(
            session.scalars(select(SimJob).where(SimJob.pool == pool, SimJob.status.in_((IDLE, RUNNING))))
        )
        self.idle = [j for j in jobs if j.status == IDLE]
        self.running = [j for j in jobs if j.status == RUNNING]
        self.startds = {
            sd.machine: sd for sd in session.scalars(select(SimStartd).where(SimStartd.pool == pool))
        }
        self.instances, self.registrations = _instances(session, pool)
        self.free = {m: _free(sd, self.running) for m, sd in self.startds.items() if sd.left_at is None}
        self.dirty = True  # something changed since the last negotiation cycle
        self.next_due: datetime | None = None  # the next event; steps before it have nothing to do
        self.negotiated_at: datetime | None = None
        self._job_ads: dict[str, object] = {}
        self._verdicts: dict[tuple, bool] = {}
        self.defrag_cores, self.defrag_tick = defrag_cores, defrag_tick  # condor_defrag's N, its last poll
        self.multicore_first = multicore_first  # sim_pools.multicore_first

    def step(self, at: datetime, negotiate: bool) -> None:
        self.report.cycles += negotiate
        defrag = self.defrag_cores > 0 and _defrag_tick(at) > self.defrag_tick
        if not defrag and not self.dirty and (self.next_due is None or at < self.next_due):
            return  # nothing happened since the last cycle, and nothing is due yet
        self._vanish(at)
        self._complete(at)
        self._depart(at)
        self._register(at)
        self._resume_drained(at)
        if defrag:
            self._defrag(at)
        if negotiate and (self.dirty or self._new_jobs(at)):
            self._negotiate(at)
        self.next_due = self._next_event(at)

    def _new_jobs(self, at: datetime) -> bool:
        return any(self.negotiated_at is None or self.negotiated_at < j.q_date <= at for j in self.idle)

    def _next_event(self, at: datetime) -> datetime | None:
        """When something can next change; None: nothing is pending."""
        times = [_finish(j) for j in self.running] + [r[0] for r in self.registrations[:1]]
        times += [j.q_date for j in self.idle if j.q_date > at]
        for machine in self.free:
            sd = self.startds[machine]
            inst = self.instances.get(sd.instance_id)
            if not external(sd) and (inst is None or inst.status in ("deleted", "error")):
                times.append(inst.deleted_at if inst is not None and inst.deleted_at else at)
            if sd.retire_requested_at is not None:
                times.append(max(sd.retire_requested_at, sd.state_changed_at))
        later = [t for t in times if t > at]
        return min(later) if later else (at if times else None)

    def _vanish(self, at: datetime) -> None:
        for machine in list(self.free):
            sd = self.startds[machine]
            inst = self.instances.get(sd.instance_id)
            if external(sd) or inst is not None and inst.status not in ("deleted", "error"):
                continue
            gone = inst.deleted_at if inst is not None and inst.deleted_at is not None else at
            gone = max(gone, sd.registered_at)
            if gone > at:
                continue
            self._complete(gone, machine)
            for job in [j for j in self.running if j.machine == machine]:
                _requeue(job, gone)
                self.running.remove(job)
                self.idle.append(job)
                self.report.evicted += 1
            self._leave(sd, gone, "vm_gone")

    def _complete(self, at: datetime, machine: str | None = None) -> None:
        for job in [
            j for j in self.running if _finish(j) <= at and (machine is None or j.machine == machine)
        ]:
            done = _finish(job)
            job.status, job.finished_at, job.entered_status_at = COMPLETED, done, done
            self.running.remove(job)
            cpus, mem, disk = self.free[job.machine]
            self.free[job.machine] = (
                cpus + job.request_cpus,
                mem + job.request_memory_mb,
                disk + job.request_disk_kb,
            )
            sd = self.startds[job.machine]
            sd.state_changed_at = max(sd.state_changed_at, done)
            self.report.completed += 1
            self.dirty = True

    def _depart(self, at: datetime) -> None:
        for machine in list(self.free):
            sd = self.startds[machine]
            if sd.retire_requested_at is None or any(j.machine == machine for j in self.running):
                continue
            leave = max(sd.retire_requested_at, sd.state_changed_at)
            if leave <= at:
                self._leave(sd, leave, "retired")

    def _leave(self, sd, at: datetime, reason: str) -> None:
        sd.left_at, sd.left_reason = at, reason
        del self.free[sd.machine]
        self.report.left += 1
        self.dirty = True

    def _register(self, at: datetime) -> None:

        while self.registrations and self.registrations[0][0] <= at:
            when, inst, disk_kb = self.registrations.pop(0)
            if inst.name in self.startds:
                continue
            sd = SimStartd(
                pool=self.pool,
                machine=inst.name,
                instance_id=inst.instance_id,
                group_name=inst.group_name,
                cloud_name=inst.cloud_name,
                attrs=dict(inst.startd_attrs or {}),
                cores=inst.cores,
                memory_mb=inst.ram_mb,
                disk_kb=disk_kb,
                registered_at=when,
                state_changed_at=when,
                next_slot=1,
            )
            self.session.add(sd)
            self.startds[sd.machine], self.free[sd.machine] = sd, (sd.cores, sd.memory_mb, sd.disk_kb)
            self.report.registered += 1
            self.dirty = True

    def _resume_drained(self, at: datetime) -> None:
        """A drained VM (condor_defrag's drain, or one of ours: both resume on completion) takes jobs
        again once its last job has ended."""
        for machine, (cpus, _, _) in self.free.items():
            sd = self.startds[machine]
            if sd.drain_started_at is not None and cpus >= sd.cores:
                self._end_drain(sd, max(sd.state_changed_at, sd.drain_started_at))

    def _end_drain(self, sd, at: datetime) -> None:
        end_drain(sd, at)
        self.dirty = True

    def _defrag(self, at: datetime) -> None:
        """One poll of condor_defrag (see DEFRAG_INTERVAL_S): cancel the drains that gathered their
        cores, then start this poll's drains. It counts and cancels its own drains only (DrainReason
        ``Defrag ...``), not cloudscheduler's."""
        tick, whole = _defrag_tick(at), self.defrag_cores
        draining = 0
        for machine in sorted(self.free):
            sd = self.startds[machine]
            if sd.drain_started_at is None or not is_defrag(sd):
                continue
            if self.free[machine][0] >= whole:
                self._end_drain(sd, at)
            else:
                draining += 1
        room = min(_drains_due(self.defrag_tick, tick), DEFRAG_MAX_CONCURRENT - draining)
        self.defrag_tick = tick
        if room <= 0:
            return
        candidates = sorted(
            (sd.cores - self.free[m][0], m)
            for m, sd in self.startds.items()
            if m in self.free
            and sd.registered_at <= at
            and (sd.retire_requested_at is None or sd.retire_requested_at > at)
            and sd.drain_started_at is None
            and sd.cores >= whole
            and self.free[m][0] < whole
        )
        for _, machine in candidates[:room]:
            sd = self.startds[machine]
            start_drain(sd, at, DEFRAG_REASON)
            self.dirty = True

    def _negotiate(self, at: datetime) -> None:
        self.dirty, self.negotiated_at = False, at
        order = sorted(
            (
                sd
                for m, sd in self.startds.items()
                if m in self.free
                and sd.registered_at <= at
                and (sd.retire_requested_at is None or sd.retire_requested_at > at)
                and sd.drain_started_at is None
            ),
            key=lambda sd: (sd.registered_at, sd.machine),
        )
        claimed: dict[str, str] = {}  # "default" packing: startd -> the request matched to it this cycle
        hopeless: set[str] = set()
        rejected = []
        queue = sorted(
            (j for j in self.idle if j.q_date <= at),
            key=lambda j: (
                -(as_int((j.attrs or {}).get("JobPrio"), minimum=-INT_MAX) or 0),
                -(self.multicore_first and j.request_cpus > 1),
                j.q_date,
                j.cluster_id,
                j.proc_id,
            ),
        )
        for job in queue:
            cluster = _autocluster(job)
            if cluster in hopeless:
                rejected.append(job)  # resources only shrink within a cycle: its twins cannot match either
                continue
            sd = self._best_fit(job, cluster, order, claimed)
            if sd is None:
                hopeless.add(cluster)
                rejected.append(job)
                continue
            claimed.setdefault(sd.machine, cluster)
            self._start(job, sd, at)
        if order:  # the schedd notes the negotiator's "no match found" on each job placed nowhere
            for job in rejected:
                job.rejected_at = at

    def _best_fit(self, job, cluster: str, order: list, claimed: dict[str, str]):
        """The startd the job goes to, by the pool's packing (``PACKINGS``), or None."""
        if self.packing == "default":
            order = [sd for sd in order if claimed.get(sd.machine, cluster) == cluster]
        room = [
            sd
            for sd in order
            if (free := self.free[sd.machine])[0] >= job.request_cpus
            and free[1] >= job.request_memory_mb
            and free[2] >= job.request_disk_kb
        ]
        room.sort(key=lambda sd: self.free[sd.machine][:2])  # stable: oldest first among equals
        return next((sd for sd in room if self._requirements_hold(job, cluster, sd)), None)

    def _requirements_hold(self, job, cluster: str, sd) -> bool:
        """The job's Requirements against the startd as it is now (resources already checked)."""
        cpus, mem, disk = self.free[sd.machine]
        key = (cluster, sd.machine, cpus, mem, disk)
        if key not in self._verdicts:
            self._verdicts[key] = _requirements_hold(self._job_ad(job, cluster), sd, cpus, mem, disk)
        return self._verdicts[key]

    def _job_ad(self, job, cluster: str):
        if cluster not in self._job_ads:
            self._job_ads[cluster] = job_ad(job)
        return self._job_ads[cluster]

    def _start(self, job, sd, at: datetime) -> None:
        job.status, job.started_at, job.entered_status_at = RUNNING, at, at
        job.machine, job.slot_id, sd.next_slot = sd.machine, sd.next_slot, sd.next_slot + 1
        cpus, mem, disk = self.free[sd.machine]
        self.free[sd.machine] = (
            cpus - job.request_cpus,
            mem - job.request_memory_mb,
            disk - job.request_disk_kb,
        )
        sd.state_changed_at = at
        self.idle.remove(job)
        self.running.append(job)
        self.report.started += 1

    def purge(self, now: datetime, retention: timedelta) -> None:
        """Completed jobs leave the queue after ``retention``; startds of deleted VMs are forgotten."""

        self.session.flush()
        self.session.execute(
            delete(SimJob).where(
                SimJob.pool == self.pool, SimJob.status == COMPLETED, SimJob.finished_at <= now - retention
            )
        )
        gone = [
            m
            for m, sd in self.startds.items()
            if sd.left_at is not None
            and (
                self.instances.get(sd.instance_id) is None
                or self.instances[sd.instance_id].status == "deleted"
            )
        ]
        if gone:
            self.session.execute(
                delete(SimStartd).where(SimStartd.pool == self.pool, SimStartd.machine.in_(gone))
            )


def _autocluster(job) -> str:
    """Jobs with equal requests, Requirements and attributes match the same slots (HTCondor's
    autoclusters)."""
    return json.dumps(
        [
            job.requirements,
            job.request_cpus,
            job.request_memory_mb,
            job.request_disk_kb,
            job.owner,
            job.attrs or {},
        ],
        sort_keys=True,
        default=str,
    )


def _requirements_hold(ad, sd, cpus: int, mem: int, disk: int) -> bool:
    import classad2

    slot = classad2.ClassAd(
        {
            **MACHINE_BASICS,
            **(sd.attrs or {}),
            "Machine": sd.machine,
            "Cpus": cpus,
            "Memory": mem,
            "Disk": disk,
            "SlotType": "Partitionable",
        }
    )
    return ad.lookup("Requirements").eval(scope=ad, target=slot) is True


def _free(sd, running) -> tuple[int, int, int]:
    mine = [j for j in running if j.machine == sd.machine]
    return (
        sd.cores - sum(j.request_cpus for j in mine),
        sd.memory_mb - sum(j.request_memory_mb for j in mine),
        sd.disk_kb - sum(j.request_disk_kb for j in mine),
    )


def _instances(session, pool: str) -> tuple[dict, list]:
    """This pool's simulated VMs by instance id, and the registrations still due, in time order."""

    groups = [
        g.name
        for g in session.scalars(select(Group).where(Group.pool_kind == SIMULATED))
        if pool_key(g.pool_kind, g.collector) == pool
    ]
    if not groups:
        return {}, []
    clouds = {
        (c.group_name, c.name): c.simulation or {}
        for c in session.scalars(select(Cloud).where(Cloud.group_name.in_(groups)))
    }
    instances = {
        i.instance_id: i
        for i in session.scalars(select(SimInstance).where(SimInstance.group_name.in_(groups)))
    }
    due = []
    for inst in instances.values():
        sim = clouds.get((inst.group_name, inst.cloud_name), {})
        # A deleted VM never (re)registers: had it come up before, its startd row says so (or was purged
        # after it left, which is why registrations of deleted VMs are not replayed).
        booting = inst.status in ("building", "active") and inst.fault is None and inst.active_at is not None
        if not booting or inst.never_register or not (inst.startd_attrs or {}).get("cs_vm_id"):
            continue  # a user-data without our condor settings leaves a VM that never joins
        when = inst.active_at + timedelta(seconds=int(sim.get("register_delay_s", 20)))
        due.append((when, inst, _disk_kb(sim, inst.flavor)))
    due.sort(key=lambda d: (d[0], d[1].name))
    return instances, due


def _disk_kb(sim: dict, flavor: str) -> int:
    gb = next((f.get("disk_gb", 20) for f in sim.get("flavors", []) if f.get("name") == flavor), 20)
    return int(gb * 1024 * 1024)
