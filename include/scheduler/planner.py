"""``plan(snapshot, policy, now) -> Plan``: the whole decision of one control-loop cycle, pure.

Order (capacity before demand): derive each VM's state from the cloud and the pool -> set aside the
idle jobs the pool refused beside our idle VMs (``unmatched``) -> lifecycle rules
(retire, delete, leave alone) -> over-limit excess -> supply that stays (free slots, booting VMs) ->
idle demand by shape, minus that supply -> boots per cloud under every limit -> skips with reasons.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from include.scheduler import candidates as cand
from include.scheduler import job_user_data
from include.scheduler.actions import Boot, Delete, Drain, Plan, Retire, Served, Skip, Undrain
from include.scheduler.boot import Allocator, unserved_skip
from include.scheduler.consolidate import consolidate
from include.scheduler.demand import Shape, shapes_of
from include.scheduler.fleet import STATES, Fleet, derive
from include.scheduler.ids import request_id, vm_ids
from include.scheduler.lifecycle import cloud_view, keep_alive_of, verdicts, young
from include.scheduler.limits import Ledger
from include.scheduler.model import CloudConfig, GroupConfig, Snapshot
from include.scheduler.overlimit import over_limit
from include.scheduler.policy import Policy
from include.scheduler.reasons import SkipReason as S
from include.scheduler.room import make_room
from include.scheduler.states import VmState
from include.scheduler.supply import cover, late_to_register, supply_buckets
from include.scheduler.tables import JOB_COLUMNS, SLOT_COLUMNS, VM_COLUMNS, normalized
from include.scheduler.unmatched import set_aside
from include.scheduler.verdict import leaving_mask, materialize


def wanted_buckets(fleet: Fleet, shapes: list[Shape]) -> np.ndarray:
    """Per VM row: are there idle jobs it could take? A VM of alias A takes jobs of alias A and jobs
    naming no alias; a VM of no alias takes only the latter; only jobs that fit it (cores and memory): a
    job that fits no VM of ours (64 cores beside 8-core VMs) keeps none of them waiting for it; and only
    jobs of the owners it was booted for, when it says (csv2's templates START only those owners): bob's
    job does not keep alice's VM, which would never run it."""
    if not len(fleet):
        return np.zeros(0, dtype=bool)
    wants: dict[tuple[str, str | None], list[tuple[int, int, frozenset[str]]]] = {}
    for s in shapes:
        if s.jobs > 0:
            wants.setdefault((s.group, s.alias), []).append((s.cores, s.ram_mb, frozenset(s.owners)))
    cores, ram = fleet.col("cores").astype(np.int64), fleet.col("ram_mb").astype(np.int64)
    owner_codes, owner_lists = pd.factorize(fleet.col("owners"))  # -1: not known (admits anyone)
    wanted = np.zeros(len(fleet), dtype=bool)
    for b, (g, a) in enumerate(fleet.bucket_keys):
        fits = wants.get((g, a), []) + (wants.get((g, None), []) if a is not None else [])
        if not fits:
            continue
        rows = np.flatnonzero(fleet.buckets == b)
        need = np.array([(c, r) for c, r, _ in fits], dtype=np.int64)  # (shape, [cores, ram])
        ok = (need[None, :, 0] <= cores[rows, None]) & (need[None, :, 1] <= ram[rows, None])
        codes = owner_codes[rows]
        for code in np.unique(codes[codes >= 0]):  # a handful of owner lists per bucket, not one per VM
            names = set(str(owner_lists[code]).split())
            ok[codes == code] &= np.array([not w.isdisjoint(names) for _, _, w in fits])
        wanted[rows] = ok.any(axis=1)
    return wanted


def plan(snapshot: Snapshot, policy: Policy, now: datetime) -> Plan:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    groups = {g.name: g for g in snapshot.groups}
    clouds = {c.key: c for c in snapshot.clouds}
    fleet = derive(normalized(snapshot.vms, VM_COLUMNS), normalized(snapshot.slots, SLOT_COLUMNS))
    view = cloud_view(fleet, groups, clouds, policy, now)
    jobs, unmatched, unmatched_skips = set_aside(
        normalized(snapshot.jobs, JOB_COLUMNS),
        fleet,
        groups,
        snapshot.unmatched,
        policy.job_unmatched_recheck,
        now,
    )
    shapes, demand_skips = shapes_of(jobs, groups)
    demand_skips += unmatched_skips
    wanted = wanted_buckets(fleet, shapes)
    label = verdicts(fleet, view, policy, now, wanted)
    ledger = Ledger(list(snapshot.clouds), fleet)
    notes = {}
    excess = over_limit(
        fleet, label, leaving_mask(fleet, label), view, clouds, ledger, young(fleet, policy, now)
    )
    for row, (how, detail) in excess.items():
        label[row], notes[row] = how, detail
    for row, (how, detail) in consolidate(
        fleet,
        label,
        leaving_mask(fleet, label),
        view,
        wanted,
        policy,
        clouds,
        ledger,
        keep_alive_of(fleet, view, policy),
        now,
    ).items():
        label[row], notes[row] = how, detail
    retires, deletes, vm_skips = materialize(fleet, label, notes)
    leaving = leaving_mask(fleet, label)
    late = late_to_register(fleet, policy, now)
    covered = cover(shapes, supply_buckets(fleet, leaving | late))
    boots, boot_skips = _boots(snapshot, shapes, covered, groups, fleet, leaving, ledger, policy, now)
    drains, undrains = make_room(fleet, label, view, shapes, boot_skips, policy, now)
    skips = sorted(
        vm_skips + demand_skips + boot_skips + _expiring(snapshot.clouds, policy, now),
        key=lambda s: (s.group, s.cloud or "", s.subject, s.reason.value),
    )
    stats = {
        "idle_jobs": sum(s.jobs for s in shapes),
        "shapes": len(shapes),
        "covered_jobs": sum(covered.values()),
        "vms": len(fleet),
        "vms_by_state": _state_counts(fleet),
        "vms_late_to_register": int((late & ~leaving).sum()),
        "jobs_unmatched": len(unmatched),
    }
    return Plan(
        tuple(boots),
        tuple(sorted(retires, key=_vm_order)),
        tuple(sorted(deletes, key=_vm_order)),
        tuple(skips),
        stats,
        tuple(unmatched),
        tuple(sorted(drains, key=_vm_order)),
        tuple(sorted(undrains, key=_vm_order)),
    )


def _state_counts(fleet: Fleet) -> dict[str, int]:
    counts = np.bincount(fleet.col("state_code"), minlength=len(STATES))
    return {name: int(n) for name, n in sorted(zip(STATES, counts, strict=True)) if n}


def _vm_order(a: Retire | Delete | Drain | Undrain) -> tuple:
    return (a.group, a.cloud, a.vm_id)


def _boots(
    snapshot: Snapshot,
    shapes: list[Shape],
    covered: dict[Shape, int],
    groups: dict[str, GroupConfig],
    fleet: Fleet,
    leaving: np.ndarray,
    ledger: Ledger,
    policy: Policy,
    now: datetime,
) -> tuple[list[Boot], list[Skip]]:
    by_group: dict[str, list[CloudConfig]] = defaultdict(list)
    for c in sorted(snapshot.clouds, key=lambda c: (c.priority, c.name)):
        by_group[c.group].append(c)
    throttled = _idle_throttled(fleet, leaving, policy)
    skips: list[Skip] = []
    pending: dict[str, list[tuple[Shape, int]]] = defaultdict(list)
    for s in shapes:
        unmet = s.jobs - covered.get(s, 0)
        if unmet <= 0:
            continue
        reason = _group_reason(s, groups[s.group], by_group[s.group], throttled)
        refusal = job_user_data.refused(s.user_data, policy.job_user_data_places) if reason is None else None
        if refusal is not None:
            skips.append(Skip(s.group, None, s.key, S.USER_DATA_REFUSED, jobs=unmet, detail=refusal))
        elif reason is None:
            pending[s.group].append((s, unmet))
        else:
            skips.append(Skip(s.group, None, s.key, reason, jobs=unmet, detail=_group_detail(reason, s)))
    backoffs = {(b.group, b.cloud, b.flavor): b for b in snapshot.backoffs}
    allocator = Allocator(policy, ledger, Counter({k: u.vms for k, u in ledger.own.items()}))
    builder = cand.Candidates(backoffs, now, policy.credential_expiry_days)
    work = []
    for name, items in sorted(pending.items()):
        arrays = cand.ShapeArrays([s for s, _ in items])
        opts = [builder.options(c, groups[name], arrays) for c in by_group[name]]
        work += [(s, unmet, groups[name], opts, pos) for pos, (s, unmet) in enumerate(items)]
    work.sort(
        key=lambda w: (
            -w[0].priority,
            covered.get(w[0], 0) / w[0].jobs,
            w[0].oldest.timestamp() if w[0].oldest else float("inf"),
            w[0].group,
            w[0].key,
        )
    )
    for s, unmet, group, opts, pos in work:
        left, blocked = allocator.serve(s, unmet, group, opts, pos)
        if left > 0:
            reason, cloud, detail = unserved_skip(opts, pos, blocked)
            skips.append(Skip(s.group, cloud, s.key, reason, jobs=left, detail=detail))
    return _finish(allocator, groups, policy, now), skips


def _expiring(clouds, policy: Policy, now: datetime) -> list[Skip]:
    """One alerting skip per cloud whose credential expires within ``credential_expiry_days``: it boots
    nothing more and its VMs retire, so an operator renews the credential before the cloud stops."""
    limit = now + timedelta(days=policy.credential_expiry_days)
    return [
        Skip(
            c.group,
            c.name,
            f"cloud:{c.name}",
            S.CREDENTIAL_EXPIRING,
            alert=True,
            detail=f"its credential expires {c.credential_expiry.isoformat(timespec='minutes')}, within "
            f"{policy.credential_expiry_days} days: renew it (a new application credential in the "
            "cloud's Connection)",
        )
        for c in sorted(clouds, key=lambda c: c.key)
        if c.enabled and c.credential_expiry is not None and c.credential_expiry <= limit
    ]


def _group_reason(s: Shape, group: GroupConfig, clouds: list[CloudConfig], throttled: set) -> S | None:
    if group.pool_stale:
        return S.POOL_STALE
    if not clouds:
        return S.NO_CLOUDS
    if s.alias is not None and not any(s.alias in c.aliases for c in clouds):
        return S.ALIAS_UNKNOWN
    if (s.group, s.alias) in throttled:
        return S.IDLE_VMS_THROTTLE
    return None


def _group_detail(reason: S, s: Shape) -> str:
    return {
        S.POOL_STALE: "the group's pool did not answer: demand and supply unknown",
        S.NO_CLOUDS: "the group has no clouds",
        S.ALIAS_UNKNOWN: f"no cloud of the group is in alias '{s.alias}'",
        S.IDLE_VMS_THROTTLE: "too many idle VMs already; they take jobs or retire first",
    }[reason]


def _idle_throttled(fleet: Fleet, leaving: np.ndarray, policy: Policy) -> set:
    """(group, alias) buckets whose idle VMs reach max(idle_vms_throttle, running VMs / 10)."""
    n = len(fleet.bucket_keys)
    idle = np.bincount(fleet.buckets, weights=~leaving & fleet.state_in(VmState.IDLE), minlength=n)
    running = np.bincount(fleet.buckets, weights=~leaving & fleet.state_in(VmState.RUNNING), minlength=n)
    return {
        fleet.bucket_keys[i]
        for i in np.flatnonzero(idle > 0)
        if idle[i] >= max(policy.idle_vms_throttle, int(running[i]) // 10)
    }


def _finish(
    allocator: Allocator, groups: dict[str, GroupConfig], policy: Policy, now: datetime
) -> list[Boot]:
    boots = []
    for index, key in enumerate(sorted(allocator.drafts)):
        d = allocator.drafts[key]
        c, g = d.cloud, groups[d.cloud.group]
        flavor, image, alias, keep_alive, network, user_data = d.kind
        first = next(iter(d.serves))
        rid = request_id(c.group, c.name, flavor, now, first, index, policy.deployment_id)
        groups_sg = c.vm.security_groups if c.vm.security_groups is not None else g.vm.security_groups
        boots.append(
            Boot(
                request_id=rid,
                group=c.group,
                cloud=c.name,
                flavor=flavor,
                image=image,
                count=d.count,
                vm_ids=vm_ids(rid, d.count),
                cores=d.flavor_cores,
                ram_mb=d.flavor_ram,
                target_alias=alias,
                keep_alive=keep_alive,
                keyname=c.vm.keyname or g.vm.keyname,
                network=network,
                security_groups=tuple(groups_sg or ()),
                spot_price=c.spot_price if c.spot_price > 0 else None,
                owners=tuple(sorted(d.owners)),
                user_data=user_data,
                serves=tuple(Served(k, n) for k, n in d.serves.items()),
            )
        )
    return boots
