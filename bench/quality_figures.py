"""The figures of the planner-quality bench (P8), from what the run left: jobs (submit, start, end,
machine), startds (registered, retire requested, left) and cloud instances (created, deleted), all as
seconds since the run's start. Pure functions: no database here.

The two floors use the jobs alone (their actual start and end), never the VMs the policy booted:
- fluid: jobs may move between VMs. At each instant a group needs ceil(running cores / C) VMs of
  flavour size C; a VM no longer needed lives on for the keep-alive and is reused if the need comes
  back meanwhile; every VM start costs boot + registration. Idle = VM core-time - busy core-time. The
  best single flavour of the group (the lowest idle) is the floor.
- no-migration: jobs stay where they start. Jobs in start order (queue order among those starting at
  one instant) are packed greedily (best fit: the fullest VM with room) onto VMs of one flavour; a VM
  exists from (first start - boot - registration) to (last end + keep-alive) and takes no job after it
  has been empty for the keep-alive. The best single flavour is the figure: an offline packing that
  knows when work arrives, not a proof that nothing does better. The clairvoyant variant also knows
  each job's run time and puts jobs that start together beside those that end with them.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import defaultdict
from dataclasses import dataclass


@dataclass
class JobRun:
    group: str
    cores: int
    submitted: float
    started: float | None
    finished: float | None
    machine: str | None
    evictions: int


@dataclass
class StartdRun:
    machine: str
    group: str
    registered: float
    retire_requested: float | None
    left: float | None


@dataclass
class VmRun:
    name: str
    group: str
    cloud: str
    cores: int
    created: float
    deleted: float | None


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def waits(jobs: list[JobRun], end: float, multicore: bool = False) -> list[float]:
    """Every job's wait; a job never started waits until the end of the run."""
    return [
        (j.started if j.started is not None else end) - j.submitted
        for j in jobs
        if not multicore or j.cores > 1
    ]


def drains_served(drains: list[tuple[float, str]], jobs: list[JobRun]) -> int:
    """Our drains for room after which the next job to start on the VM was a multi-core one: the cores
    went where they were gathered for, not to a 1-core job queued ahead of it."""
    starts: dict[str, list[tuple[float, int]]] = {}
    for j in jobs:
        if j.started is not None and j.machine:
            starts.setdefault(j.machine, []).append((j.started, j.cores))
    served = 0
    for t, vm in drains:
        after = sorted(s for s in starts.get(vm, []) if s[0] > t)
        served += bool(after) and after[0][1] > 1
    return served


def waits_with_room(
    jobs: list[JobRun],
    end: float,
    room: list[tuple[float, dict[str, frozenset[int]]]],
    tick_s: float,
    multicore: bool = False,
) -> list[float]:
    """Every job's wait counted only over the ticks at which a cloud of its group had room, under the
    site's limits, for a VM that fits it (``room``: per tick, the job sizes each group could boot for).
    The wait bound is the planner's promise; a job behind a full cloud waits for capacity instead."""
    times = [t for t, _ in room]
    out = []
    for j in jobs:
        if multicore and j.cores <= 1:
            continue
        started = j.started if j.started is not None else end
        first, last = bisect.bisect_left(times, j.submitted), bisect.bisect_left(times, started) + 1
        out.append(
            sum(  # a tick at t stands for (t - tick_s, t]: count only its overlap with the wait
                max(0.0, min(t, started) - max(t - tick_s, j.submitted))
                for t, sizes in room[first:last]
                if j.cores in sizes.get(j.group, ())
            )
        )
    return out


def busy_intervals(jobs: list[JobRun], end: float) -> dict[str, list[tuple[float, float, int]]]:
    """Per machine: (start, end, cores) of each job that ran on it."""
    out: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for j in jobs:
        if j.started is not None and j.machine:
            out[j.machine].append((j.started, j.finished if j.finished is not None else end, j.cores))
    for runs in out.values():
        runs.sort()
    return out


def core_seconds(jobs: list[JobRun], vms: list[VmRun], end: float) -> tuple[float, float]:
    busy = sum(
        j.cores * ((j.finished if j.finished is not None else end) - j.started)
        for j in jobs
        if j.started is not None
    )
    paid = sum(v.cores * ((v.deleted if v.deleted is not None else end) - v.created) for v in vms)
    return busy, paid


def waste_parts(vms, startds: dict[str, StartdRun], runs, end: float, keep_alive: int) -> dict[str, float]:
    """Idle core-seconds by where they fall in a VM's life."""
    out = dict.fromkeys(
        ("booting", "never_used", "before_first_job", "partly_filled", "empty_gaps", "after_last_job",
         "after_last_job_keep_alive"),
        0.0,
    )  # fmt: skip
    for v in vms:
        stop = v.deleted if v.deleted is not None else end
        jobs = runs.get(v.name, [])
        sd = startds.get(v.name)
        if not jobs:
            out["never_used"] += v.cores * (stop - v.created)
            continue
        first, last = jobs[0][0], max(e for _, e, _ in jobs)
        ready = min(sd.registered if sd else first, first)
        out["booting"] += v.cores * max(0.0, ready - v.created)
        out["before_first_job"] += v.cores * max(0.0, first - ready)
        partly, gaps = _partly_and_gaps(jobs, v.cores)
        out["partly_filled"] += partly
        out["empty_gaps"] += gaps
        out["after_last_job"] += v.cores * max(0.0, stop - last)
        out["after_last_job_keep_alive"] += v.cores * min(keep_alive, max(0.0, stop - last))
    return out


def _partly_and_gaps(jobs: list[tuple[float, float, int]], cores: int) -> tuple[float, float]:
    """Free cores while at least one job runs, and whole cores while none does, between the first start
    and the last end."""
    events = sorted([(s, c) for s, _, c in jobs] + [(e, -c) for _, e, c in jobs])
    partly = gaps = 0.0
    used, at = 0, events[0][0]
    for t, delta in events:
        if used > 0:
            partly += (cores - used) * (t - at)
        else:
            gaps += cores * (t - at)
        used, at = used + delta, t
    return partly, gaps


def busy_at(runs: list[tuple[float, float, int]], t: float) -> bool:
    return any(s <= t < e for s, e, _ in runs[: bisect.bisect_right(runs, (t, math.inf, 0))])


def idle_retires(startds, runs) -> list[tuple[str, float, str]]:
    """(group, when, machine) of every retire sent to a startd running nothing."""
    return [
        (sd.group, sd.retire_requested, sd.machine)
        for sd in startds.values()
        if sd.retire_requested is not None and not busy_at(runs.get(sd.machine, []), sd.retire_requested)
    ]


def retires_then_booted(vms, retires, keep_alive: int) -> int:
    """Idle-retired VMs that a boot of the same shape (group and cores) followed within the keep-alive,
    each boot standing for one retired VM at most: the churn a longer life of that VM would have saved.
    A burst of 20 VMs after one retire counts once, since 19 of them were needed whatever we retired."""
    cores = {v.name: v.cores for v in vms}
    boots: dict[tuple[str, int], list[float]] = defaultdict(list)
    for v in vms:
        boots[(v.group, v.cores)].append(v.created)
    for times in boots.values():
        times.sort()
    taken: set[tuple[str, int, int]] = set()
    n = 0
    for g, t, machine in sorted(retires, key=lambda r: r[1]):
        shape = (g, cores.get(machine, 0))
        times = boots.get(shape, [])
        i = bisect.bisect_right(times, t)
        while i < len(times) and times[i] <= t + keep_alive and (*shape, i) in taken:
            i += 1
        if i < len(times) and times[i] <= t + keep_alive:
            taken.add((*shape, i))
            n += 1
    return n


def boots_after_idle_retire(vms, retires, keep_alive: int) -> int:
    """VMs created within the keep-alive after an idle retire of the same group (every VM of a burst
    counts: ``retires_then_booted`` is the churn a retired VM could have saved)."""
    by_group: dict[str, list[float]] = defaultdict(list)
    for g, t, _ in retires:
        by_group[g].append(t)
    for times in by_group.values():
        times.sort()
    n = 0
    for v in vms:
        times = by_group.get(v.group, [])
        i = bisect.bisect_left(times, v.created - keep_alive)
        n += i < len(times) and times[i] < v.created
    return n


def boots_beside_idle(vms, startds, runs, grace_s: float) -> int:
    """VMs created while a VM of the same group was registered, not retiring, had run nothing for at
    least ``grace_s`` (one negotiation and one plan: the pool had its chance to give it the job), and
    then took no job within ``grace_s`` either: a boot for a burst larger than the idle VMs, whose first
    job goes to the idle VM at the next negotiation, is the idle VM reused, not booted around."""
    by_group: dict[str, list[StartdRun]] = defaultdict(list)
    for sd in startds.values():
        by_group[sd.group].append(sd)
    n = 0
    for v in vms:
        t = v.created
        for sd in by_group.get(v.group, []):
            if sd.registered > t - grace_s or (sd.left is not None and sd.left <= t):
                continue
            if sd.retire_requested is not None and sd.retire_requested <= t:
                continue
            jobs = runs.get(sd.machine, [])
            last_end = max((e for s, e, _ in jobs if s <= t), default=None)
            if busy_at(jobs, t) or (last_end is not None and last_end > t - grace_s):
                continue
            if any(t <= s <= t + grace_s for s, _, _ in jobs):
                continue
            n += 1
            break
    return n


def longest_idle(vms, startds, runs, end: float) -> tuple[float, str, bool]:
    """The longest stretch any registered VM spent with no job (until deleted or the end): seconds, the
    VM, whether it was retired."""
    best = (0.0, "", False)
    for v in vms:
        sd = startds.get(v.name)
        if sd is None:
            continue
        stop = v.deleted if v.deleted is not None else end
        at, longest = sd.registered, 0.0
        for s, e, _ in runs.get(v.name, []):
            longest = max(longest, s - at)
            at = max(at, e)
        longest = max(longest, stop - at)
        if longest > best[0]:
            best = (longest, v.name, sd.retire_requested is not None)
    return best


def fluid_floor(jobs, group: str, size: int, start_cost_s: float, keep_alive: int, end: float) -> float:
    """Idle core-seconds of the fluid floor for one group and one flavour size (see the module doc)."""
    events = sorted(
        [(j.started, j.cores) for j in jobs if j.group == group and j.started is not None]
        + [
            (j.finished if j.finished is not None else end, -j.cores)
            for j in jobs
            if j.group == group and j.started is not None
        ]
    )
    running = active = starts = 0
    surplus: list[float] = []  # expiry times of VMs kept alive though no longer needed
    vm_seconds, at = 0.0, events[0][0] if events else 0.0
    i = 0
    while i < len(events):
        t = events[i][0]
        while surplus and surplus[0] <= t:  # kept-alive VMs expire between events
            expiry = heapq.heappop(surplus)
            vm_seconds += (active + len(surplus) + 1) * (expiry - at)
            at = expiry
        vm_seconds += (active + len(surplus)) * (t - at)
        at = t
        while i < len(events) and events[i][0] == t:
            running += events[i][1]
            i += 1
        need = math.ceil(running / size)
        if need > active:
            reuse = min(need - active, len(surplus))
            for _ in range(reuse):
                heapq.heappop(surplus)  # nsmallest would keep the longest-lived; any is as good here
            starts += need - active - reuse
        else:
            for _ in range(active - need):
                heapq.heappush(surplus, t + keep_alive)
        active = need
    for expiry in sorted(surplus):
        expiry = min(expiry, end)
        vm_seconds += (active + len(surplus)) * max(0.0, expiry - at)
        at = max(at, expiry)
        surplus.pop()
    vm_seconds += active * max(0.0, end - at)
    busy = sum(
        j.cores * ((j.finished if j.finished is not None else end) - j.started)
        for j in jobs
        if j.group == group and j.started is not None
    )
    return size * (vm_seconds + starts * start_cost_s) - busy


def packing_floor(
    jobs, group: str, size: int, start_cost_s: float, keep_alive: int, end: float, clairvoyant: bool = False
) -> float:
    """Idle core-seconds of the greedy no-migration packing for one group and one flavour size. Jobs that
    start at the same instant (a burst's, at one negotiation cycle) are taken in queue order (submission,
    then the order the pool listed them), as a negotiator takes them: it does not know their run times.
    ``clairvoyant``: take them by their end time instead, so that jobs ending together share a VM, which
    no online placement can do (the floor this bench printed before 2026-12-07 evening)."""

    def order(j):  # sorted() is stable: jobs equal in this key keep the pool's listing order
        ends = (j.finished if j.finished is not None else end) if clairvoyant else 0.0
        return (j.started, ends, j.submitted)

    mine = [
        (j.started, j.finished if j.finished is not None else end, j.cores)
        for j in sorted(
            (j for j in jobs if j.group == group and j.started is not None and j.cores <= size), key=order
        )
    ]
    alive: list[dict] = []  # each: running (end heap), used cores, last_end, born
    vm_seconds = busy = 0.0
    for s, e, c in mine:
        busy += c * (e - s)
        keep = []
        for vm in alive:
            while vm["running"] and vm["running"][0][0] <= s:
                ended, cores = heapq.heappop(vm["running"])
                vm["used"] -= cores
            if vm["used"] == 0 and vm["last_end"] + keep_alive < s:
                vm_seconds += vm["last_end"] + keep_alive - vm["born"]
            else:
                keep.append(vm)
        alive = keep
        fits = [vm for vm in alive if size - vm["used"] >= c]
        if fits:
            vm = max(fits, key=lambda v: v["used"])
        else:
            vm = {"running": [], "used": 0, "last_end": s, "born": s - start_cost_s}
            alive.append(vm)
        heapq.heappush(vm["running"], (e, c))
        vm["used"] += c
        vm["last_end"] = max(vm["last_end"], e)
    for vm in alive:
        vm_seconds += min(end, vm["last_end"] + keep_alive) - vm["born"]
    return size * vm_seconds - busy


def best_floor(kind, jobs, trace, group: str, keep_alive: int, end: float, **options) -> float:
    """The lowest idle of ``kind`` (fluid_floor or packing_floor, with ``options``) over the group's flavour
    sizes that hold its largest job; a job no flavour holds is left out of the packing."""
    start_cost = min(c.boot_s + c.register_s for c in trace.clouds if group in c.groups)
    largest = max((j.cores for j in jobs if j.group == group and j.started is not None), default=1)
    sizes = sorted({f[1] for f in trace.flavours_of(group)})
    holding = [s for s in sizes if s >= largest] or sizes[-1:]
    return min(kind(jobs, group, s, start_cost, keep_alive, end, **options) for s in holding)
