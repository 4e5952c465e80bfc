"""The naive baseline of the planner-quality bench (P8): "boot 8-core VMs for idle cores now, retire a VM
idle for the keep-alive". It replaces the planner function the control loop calls (``plan(snapshot,
policy, now) -> Plan`` in ``include.loop.planning``), in the bench process only, so both policies run
through the same pollers, acts and simulated clouds and are measured the same way.

What it keeps from the real planner: deletes and the lifecycle retires that are housekeeping, not policy
(a VM in error, a cloud disabled, a credential expiring, a VM that never ran a job, over a limit). What it
decides itself: every boot, and the idle retires (a registered VM with no job for its keep-alive).
It obeys every configured limit (cores control, soft-max, quota cores/RAM/instances, RAM control, VM
count) so that it is compared on waste and waiting, not on breaking limits; it ignores the throttles.
"""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd

from include.scheduler.actions import Boot, Plan, Retire, Served
from include.scheduler.ids import request_id, vm_ids
from include.scheduler.reasons import RetireReason
from include.scheduler.tables import JOB_COLUMNS, SLOT_COLUMNS, VM_COLUMNS, normalized

NAIVE_CORES = 8  # the flavour size the naive policy boots (or the smallest multi-core one a cloud has)
GONE = ("gone", "deleting")  # not supply
# A VM being deleted still holds its cores and instance until the cloud lets it go: it counts against
# the limits, as the real planner's ledger counts it (at a 15 s cadence a plan often sees one in flight).
RELEASED = ("gone",)
# Retires the real planner makes that are housekeeping every policy needs, not packing or churn choices.
HOUSEKEEPING = {"operator", "error", "cloud_disabled", "credential_expiring", "never_ran_job", "over_limit"}


def naive_plan_function(real_plan):
    """A ``plan`` with the real one's signature: its deletes and housekeeping retires, our boots and idle
    retires."""

    def plan(snapshot, policy, now: datetime) -> Plan:
        base = real_plan(snapshot, policy, now)
        vms = normalized(snapshot.vms, VM_COLUMNS)
        slots = normalized(snapshot.slots, SLOT_COLUMNS)
        jobs = normalized(snapshot.jobs, JOB_COLUMNS)
        retires = [r for r in base.retires if str(r.reason) in HOUSEKEEPING]
        retiring = {r.vm_id for r in retires}
        retires += [r for r in idle_retires(snapshot, vms, slots, policy, now) if r.vm_id not in retiring]
        boots = naive_boots(snapshot, vms, slots, jobs, policy, now)
        return Plan(tuple(boots), tuple(retires), base.deletes, base.skips, dict(base.stats, policy="naive"))

    return plan


def _keep_alive(snapshot, group: str, cloud: str, policy) -> int:
    groups = {g.name: g for g in snapshot.groups}
    clouds = {(c.group, c.name): c for c in snapshot.clouds}
    c = clouds.get((group, cloud))
    value = c.vm.keep_alive if c is not None and c.vm.keep_alive is not None else None
    if value is None:
        value = groups[group].vm.keep_alive if group in groups else None
    return max(int(value or 0), int(policy.keep_alive_floor))


def _slot_view(slots: pd.DataFrame) -> tuple[set[str], dict[str, int], set[str]]:
    """VMs with a startd, free cores of their partitionable slots, VMs with a claimed slot."""
    has_slot = set(slots["vm_id"].dropna())
    part = slots[slots["slot_type"].isin(["Partitionable", "Static"]) & (slots["state"] == "Unclaimed")]
    free = part.groupby("vm_id")["cores"].sum().to_dict()
    claimed = set(slots.loc[slots["state"].isin(["Claimed", "Matched", "Preempting"]), "vm_id"])
    return has_slot, {k: int(v) for k, v in free.items()}, claimed


def idle_retires(snapshot, vms, slots, policy, now: datetime) -> list[Retire]:
    """A registered VM, not already retiring, with no claimed slot since its keep-alive."""
    has_slot, _, claimed = _slot_view(slots)
    out = []
    for v in vms.itertuples(index=False):
        if v.vm_id not in has_slot or v.vm_id in claimed or not pd.isna(v.retire_requested_at):
            continue
        since = max(
            (t for t in (v.registered_at, v.slots_changed_at, v.created_at) if not pd.isna(t)), default=None
        )
        if since is None:
            continue
        idle_s = (now - since.to_pydatetime()).total_seconds()
        if idle_s >= _keep_alive(snapshot, v.group, v.cloud, policy):
            out.append(Retire(v.vm_id, v.group, v.cloud, RetireReason.KEEP_ALIVE, detail="naive: idle"))
    return out


def _flavor_for(cloud, cores_needed: int):
    """The 8-core flavour (or the smallest multi-core one) when it holds the job, else the smallest that
    does."""
    fits = sorted((f for f in cloud.flavors if f.cores >= cores_needed), key=lambda f: (f.cores, f.ram_mb))
    if not fits:
        return None
    eight = [f for f in fits if f.cores == NAIVE_CORES]
    multi = [f for f in fits if f.cores > 1]
    return (eight or multi or fits)[0]


def _headroom(cloud, vms: pd.DataFrame, flavor) -> int:
    """VMs of ``flavor`` that fit under every configured limit of this cloud row."""
    mine = vms[(vms["group"] == cloud.group) & (vms["cloud"] == cloud.name) & ~vms["status"].isin(RELEASED)]
    used = (int(mine["cores"].sum()), int(mine["ram_mb"].sum()), len(mine))
    lim, q = cloud.limits, cloud.quota
    caps = [
        (lim.cores_ctl, used[0], flavor.cores),
        (lim.cores_softmax - q.foreign_cores if lim.cores_softmax >= 0 else -1, used[0], flavor.cores),
        (q.cores_max - q.foreign_cores if q.cores_max >= 0 else -1, used[0], flavor.cores),
        (lim.ram_ctl, used[1], flavor.ram_mb),
        (q.ram_max_mb - q.foreign_ram_mb if q.ram_max_mb >= 0 else -1, used[1], flavor.ram_mb),
        (lim.max_vms, used[2], 1),
        (q.instances_max - q.foreign_vms if q.instances_max >= 0 else -1, used[2], 1),
    ]
    room = [max(0, (cap - have) // each) for cap, have, each in caps if cap >= 0]
    return min(room, default=10**6)


def naive_boots(snapshot, vms, slots, jobs, policy, now: datetime) -> list[Boot]:
    has_slot, free, _ = _slot_view(slots)
    groups = {g.name: g for g in snapshot.groups}
    idle = jobs[(jobs["status"] == 1) & jobs["group"].notna()]
    boots: list[Boot] = []
    booked = vms.copy()
    for group, mine in idle.groupby("group"):
        g = groups.get(group)
        if g is None:
            continue
        cores = mine["cores"].where(mine["cores"] > 0, g.job_defaults.cores).astype(int).to_numpy()
        live = vms[(vms["group"] == group) & ~vms["status"].isin(GONE) & vms["retire_requested_at"].isna()]
        supply = sum(free.get(v, 0) for v in live["vm_id"] if v in has_slot)
        supply += int(
            live.loc[~live["vm_id"].isin(has_slot), "cores"].sum()
        )  # coming: booted, not registered
        owners = tuple(sorted(set(mine["owner"].dropna())))
        clouds = sorted(
            (c for c in snapshot.clouds if c.group == group and c.enabled and not c.paused and not c.stale),
            key=lambda c: (c.priority, c.name),
        )
        wanted = int(cores.sum()) - supply  # idle cores not covered by free or coming cores
        big = sorted(int(c) for c in cores if c > NAIVE_CORES)
        for c in clouds:
            if wanted <= 0:
                break
            pending: list[tuple[object, int]] = []
            for need in big:  # a job larger than the naive flavour gets a VM that fits it
                f = _flavor_for(c, need)
                if f is not None:
                    pending.append((f, 1))
            small = _flavor_for(c, 1 if not len(cores) else int(min(cores.min(), NAIVE_CORES)))
            if small is not None:
                rest = wanted - sum(f.cores for f, _ in pending)
                if rest > 0:
                    pending.append((small, math.ceil(rest / small.cores)))
            for f, count in pending:
                n = min(count, _headroom(c, booked, f))
                if n <= 0:
                    continue
                boots.append(_boot(c, g, f, n, len(boots), owners, policy, now))
                more = {"group": group, "cloud": c.name, "cores": f.cores, "ram_mb": f.ram_mb}
                rows = pd.DataFrame([{**more, "status": "requested"}] * n)
                booked = pd.concat([booked, rows], ignore_index=True)
                wanted -= n * f.cores
            big = []
    return boots


def _boot(cloud, group, flavor, count: int, index: int, owners, policy, now: datetime) -> Boot:
    rid = request_id(cloud.group, cloud.name, flavor.name, now, "naive", index, policy.deployment_id)
    sgs = cloud.vm.security_groups if cloud.vm.security_groups is not None else group.vm.security_groups
    return Boot(
        request_id=rid,
        group=cloud.group,
        cloud=cloud.name,
        flavor=flavor.name,
        image=cloud.vm.image or group.vm.image,
        count=count,
        vm_ids=vm_ids(rid, count),
        cores=flavor.cores,
        ram_mb=flavor.ram_mb,
        target_alias=None,
        keep_alive=None,
        keyname=cloud.vm.keyname or group.vm.keyname,
        network=cloud.vm.network or group.vm.network,
        security_groups=tuple(sgs or ()),
        spot_price=None,
        owners=owners,
        user_data=None,
        serves=(Served("naive:idle-cores", count * flavor.cores),),
    )
