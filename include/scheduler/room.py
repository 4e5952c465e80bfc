"""Room for waiting multi-core jobs: drain running VMs so the cores their jobs free gather, instead of
going one at a time to the smaller jobs queued behind.

At capacity, a VM frees its cores as its jobs end, one by one, and the negotiator gives each free core
to the next 1-core job: an 8-core job waits until eight cores come free on one VM at once, which a busy
pool of 1-core work may never do (on the belle2-day trace, 8-core jobs waited 20,000 s at p95). No boot
can help: the group is at its limits. condor_defrag drains machines on a timer, blind to the queue; this
drains only for jobs that wait, only as many VMs as they need, the VMs nearest to having the cores, and
ends each drain the moment the cores are there (the job then starts at the next negotiation, being the
oldest in the queue).

The rule, for each demand shape of more than one core whose jobs are still unserved because a limit of
the group's clouds stopped the boot (``LIMITS``) and whose oldest job has waited ``room_drain_after``:
- our drains already running are kept for the shapes that still wait (one VM per job, in the order the
  allocation serves shapes); a drained VM with the shape's cores and memory free is resumed (``Undrain``):
  its job takes the cores now; one no waiting job needs any more is resumed too;
- while jobs still lack a VM, running VMs are drained, at most ``room_drain_max`` of a group at a time:
  VMs of the shape's group (and alias) big enough for a job, booted for its owners, with fewer free cores
  than it needs (more would be supply already), soonest first: the expected time until its jobs' ends
  free the cores (``_time_to_free``), then the name.
A drain is graceful and resumes on completion: the startd's jobs finish undisturbed, it takes no new
one, and if all end before we resume it, it resumes itself. Its ``DrainReason`` starts ``ROOM_DRAIN``:
that is how the poller's ads tell our drains from condor_defrag's and an administrator's. Nothing here
touches a VM another rule acts on, a manual one, or one of a stale cloud or pool.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from include.scheduler.actions import Drain, Skip, Undrain
from include.scheduler.demand import Shape
from include.scheduler.fleet import ROOM_DRAIN, Fleet
from include.scheduler.policy import Policy
from include.scheduler.reasons import SkipReason as S
from include.scheduler.states import VmState

# The skips that say the group is at a limit: no boot will come for the job, so only cores our running
# VMs free can start it. Paces (throttle, cycle cap) and back-offs pass within minutes: no drain for them.
LIMITS = frozenset({S.CORES_CTL, S.SOFTMAX, S.RAM_CTL, S.MAX_VMS, S.QUOTA})


def make_room(
    fleet: Fleet,
    label: np.ndarray,
    view: dict[str, np.ndarray],
    shapes: list[Shape],
    skips: list[Skip],
    policy: Policy,
    now: datetime,
) -> tuple[list[Drain], list[Undrain]]:
    if not len(fleet):
        return [], []
    waiting = _starved(shapes, skips, policy, now)
    frozen = ~view["known"] | view["stale"] | view["pool_stale"]
    free_ok = (label == 0) & ~fleet.col("manual") & ~frozen & np.isnan(fleet.col("retire_requested_at"))
    ours = free_ok & fleet.col("room_draining")
    cores, ram = fleet.col("cores").astype(np.int64), fleet.col("ram_mb").astype(np.int64)
    # A drained partitionable slot reports its free cores in state Drained, a running one in Unclaimed.
    free_cores = fleet.col("free_cores") + fleet.col("drained_cores")
    free_mem = fleet.col("free_mem") + fleet.col("drained_mem")
    owners = _owner_sets(fleet.col("owners"))
    vm_ids = [str(v) for v in fleet.col("vm_id")]
    drains: list[Drain] = []
    undrains: list[Undrain] = []
    kept: dict[str, int] = {}
    need = {s: n for s, n in waiting}
    # 1. Our drains: each serves the first waiting shape it fits; done ones and unneeded ones resume.
    for row in sorted(np.flatnonzero(ours), key=lambda r: vm_ids[r]):
        shape = next(
            (s for s, _ in waiting if need[s] > 0 and _fits(fleet, row, s, cores, ram, owners)), None
        )
        group, cloud = fleet.col("group")[row], fleet.col("cloud")[row]
        if shape is None:
            undrains.append(
                Undrain(vm_ids[row], group, cloud, "no multi-core job waits for its cores any more")
            )
            continue
        need[shape] -= 1
        if free_cores[row] >= shape.cores and free_mem[row] >= shape.ram_mb:
            undrains.append(
                Undrain(
                    vm_ids[row],
                    group,
                    cloud,
                    f"{free_cores[row]} cores free: a {shape.cores}-core job takes them",
                )
            )
        else:
            kept[group] = kept.get(group, 0) + 1
    # 2. New drains for the jobs still without one, nearest first, within the group's cap.
    running = free_ok & fleet.state_in(VmState.RUNNING) & ~fleet.col("room_draining")
    taken: set[int] = set()
    for shape, _ in waiting:
        if need[shape] <= 0:
            continue
        room = policy.room_drain_max - kept.get(shape.group, 0)
        if room <= 0:
            continue
        fit = running & (free_cores < shape.cores) & (cores >= shape.cores) & (ram >= shape.ram_mb)
        rows = [
            r for r in np.flatnonzero(fit) if r not in taken and _fits(fleet, r, shape, cores, ram, owners)
        ]
        need_cores = {r: shape.cores - int(free_cores[r]) for r in rows}
        rows.sort(key=lambda r: (_time_to_free(fleet.col("claimed_cores")[r], need_cores[r]), vm_ids[r]))
        for row in rows[: min(room, need[shape])]:
            taken.add(row)
            kept[shape.group] = kept.get(shape.group, 0) + 1
            need[shape] -= 1
            drains.append(
                Drain(
                    vm_ids[row],
                    shape.group,
                    fleet.col("cloud")[row],
                    shape.cores,
                    f"{ROOM_DRAIN} {shape.cores}-core jobs",
                    f"{shape.jobs} {shape.cores}-core jobs wait since {shape.oldest:%H:%M} and the group is at "
                    f"its limits: {free_cores[row]} of {cores[row]} cores free, its jobs' ends free the rest",
                )
            )
    return drains, undrains


def _starved(
    shapes: list[Shape], skips: list[Skip], policy: Policy, now: datetime
) -> list[tuple[Shape, int]]:
    """(shape, jobs) of the multi-core shapes a limit holds back for ``room_drain_after`` or longer, in
    the order the allocation serves shapes (highest priority, then oldest)."""
    if policy.room_drain_after <= 0:
        return []
    held = {(k.group, k.subject): k.jobs for k in skips if k.reason in LIMITS and k.jobs > 0}
    out = [
        (s, held[(s.group, s.key)])
        for s in shapes
        if s.cores > 1
        and (s.group, s.key) in held
        and s.oldest is not None
        and (now - s.oldest).total_seconds() >= policy.room_drain_after
    ]
    return sorted(out, key=lambda w: (-w[0].priority, w[0].oldest, w[0].group, w[0].key))


def _time_to_free(jobs: tuple[int, ...], cores: int) -> float:
    """How long, in mean run times, until ``cores`` are free on a VM running ``jobs`` (their cores,
    largest first): the fewest ends that free them, k (largest jobs first), of its n jobs, each ending
    independently at a constant rate (nothing is known of a job's end): H(n) - H(n - k). Eight cores
    come sooner from sixteen 1-core jobs (any 8 of 16: 0.66) than from one 8-core job (1.0) or eight
    1-core jobs (all of them: 2.72)."""
    k, freed = 0, 0
    for c in jobs:
        if freed >= cores:
            break
        k, freed = k + 1, freed + c
    n = len(jobs)
    return sum(1 / (n - i) for i in range(k))


def _owner_sets(column: np.ndarray) -> list[frozenset[str] | None]:
    """Each VM's owners (the startd STARTs only their jobs), or None where it admits anyone."""
    codes, uniques = pd.factorize(column)
    sets = [frozenset(str(u).split()) or None for u in uniques] + [None]
    return [sets[c] for c in codes]


def _fits(fleet: Fleet, row: int, shape: Shape, cores, ram, owners) -> bool:
    """The VM could run a job of the shape: its group, its alias (a job naming none takes any of the
    group's), its size, its owners."""
    if fleet.col("group")[row] != shape.group or cores[row] < shape.cores or ram[row] < shape.ram_mb:
        return False
    alias = fleet.col("target_alias")[row]
    if shape.alias is not None and alias != shape.alias:
        return False
    allowed = owners[row]
    return allowed is None or not allowed.isdisjoint(shape.owners)
