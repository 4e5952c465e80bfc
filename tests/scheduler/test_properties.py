"""Invariants of the planner over random snapshots (hypothesis):

- never over any limit after applying the plan (every boot fits every limit term and throttle);
- never a new retire or any delete of a VM with a claimed slot, unless the operator asked for a kill
  (graceful retires for over-limit, a drained cloud, an error, consolidation or an operator retire
  excepted: each lets the running jobs finish), and never
  any action on a manual VM;
- the same input gives the same plan, whatever the order of the table rows;
- a stale source produces no action on it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from include.scheduler.fleet import ROOM_DRAIN
from include.scheduler.model import Backoff, Limits, Quota
from include.scheduler.planner import plan
from include.scheduler.policy import Policy
from include.scheduler.reasons import DeleteReason as D
from include.scheduler.reasons import RetireReason as R
from tests.scheduler.builders import FLAVORS, NOW, ago, cloud, drained_slots, group, idle_jobs, snapshot, vm

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
GRACEFUL = {R.OVER_LIMIT, R.CLOUD_DISABLED, R.CREDENTIAL_EXPIRING, R.OPERATOR, R.ERROR, R.CONSOLIDATE}
STATES = ["requested", "starting", "unregistered", "fresh", "idle", "running", "error", "gone"]

limit = st.one_of(st.just(-1), st.integers(0, 120))


def _mostly(value: bool) -> st.SearchStrategy[bool]:
    """``value`` nine times in ten."""
    return st.sampled_from([value] * 9 + [not value])


quota_cap = st.one_of(st.just(-1), st.integers(0, 200))


@st.composite
def clouds(draw, group_name: str, index: int):
    return cloud(
        f"c{index}",
        group_name,
        enabled=draw(_mostly(True)),
        paused=not draw(_mostly(True)),
        stale=not draw(_mostly(True)),
        priority=draw(st.integers(0, 2)),
        endpoint=draw(st.sampled_from(["e1", "e2", None])),
        aliases=draw(st.sets(st.sampled_from("ab"))),
        flavors=draw(st.lists(st.sampled_from(FLAVORS), min_size=1, max_size=4, unique=True)),
        flavor=draw(st.sampled_from([None, None, "c8", "c16"])),
        max_boot_per_cycle=draw(st.sampled_from([None, 1, 3])),
        limits=Limits(
            cores_ctl=draw(limit),
            cores_softmax=draw(limit),
            ram_ctl=draw(st.sampled_from([-1, 40_000, 200_000])),
            max_vms=draw(st.sampled_from([-1, 2, 6])),
        ),
        last_poll_at=ago(draw(st.sampled_from([10, 200]))),
    )


@st.composite
def vms(draw, group_name: str, cloud_names: list[str], start: int):
    out = []
    for i in range(draw(st.integers(0, 6))):
        state = draw(st.sampled_from(STATES))
        extra = {}
        if draw(st.integers(0, 5)) == 0:
            extra |= {
                "retire_requested_at": ago(draw(st.integers(1, 5000))),
                "retire_reason": draw(st.sampled_from([r.value for r in R])),
                "retire_count": draw(st.integers(0, 11)),
            }
            if draw(st.booleans()):
                extra["retire_sent_at"] = ago(draw(st.integers(1, 3000)))
        if draw(st.integers(0, 7)) == 0:
            extra["kill_requested_at"] = ago(1)
        cores = draw(st.sampled_from([4, 8, 16]))
        row, slots = vm(
            f"{group_name}-v{start + i}",
            state=state,
            group=group_name,
            cloud=draw(st.sampled_from(cloud_names)),
            cores=cores,
            free_cores=draw(st.sampled_from([0, 1, 3])),
            age=draw(st.sampled_from([30, 400, 2500, 8000])),
            idle_for=draw(st.sampled_from([5, 200, 5000])),
            manual=draw(st.integers(0, 6)) == 0,
            target_alias=draw(st.sampled_from([None, "a"])),
            **extra,
        )
        if state == "running" and draw(st.integers(0, 3)) == 0:  # drained: ours, condor_defrag's, an admin's
            reason = draw(st.sampled_from([f"{ROOM_DRAIN} 8-core jobs", "Defrag DEFRAG@cm", "by admin"]))
            free = draw(st.sampled_from([1, cores]))
            slots = drained_slots(
                row["vm_id"], reason=reason, free_cores=free, jobs=(cores - free,) * (free < cores)
            )
        out.append((row, slots))
    return out


@st.composite
def snapshots(draw):
    groups, all_clouds, all_vms, jobs, backoffs = [], [], [], [], []
    for g in ("atlas", "belle")[: draw(st.integers(1, 2))]:
        groups.append(
            group(g, pool_stale=not draw(_mostly(True)), delete_on_job_completion=draw(st.booleans()))
        )
        mine = [draw(clouds(g, i)) for i in range(draw(st.integers(1, 3)))]
        all_clouds += mine
        all_vms += draw(vms(g, [c.name for c in mine], len(all_vms)))
        for _ in range(draw(st.integers(0, 3))):
            jobs += idle_jobs(
                draw(st.integers(1, 25)),
                group=g,
                cores=draw(st.sampled_from([1, 4, 8, 16])),
                ram_mb=draw(st.sampled_from([1000, 8000, 16000])),
                target_alias=draw(st.sampled_from([None, None, "a", "b"])),
                q_date=ago(draw(st.sampled_from([600, 4000]))),  # 4000: past room_drain_after
            )
        if draw(st.booleans()):
            c = draw(st.sampled_from(mine))
            backoffs.append(
                Backoff(
                    g,
                    c.name,
                    draw(st.sampled_from(["", "c8"])),
                    1,
                    until=NOW if draw(st.booleans()) else ago(-600),
                    disabled=draw(st.booleans()),
                )
            )
    all_clouds = _consistent_quotas(draw, all_clouds, all_vms)
    return snapshot(groups=groups, clouds=all_clouds, jobs=jobs, vms=all_vms, backoffs=backoffs)


def _consistent_quotas(draw, clouds, vms):
    """One quota per project (endpoint), as the cloud reports it: rows sharing an endpoint see the same
    caps and usage, and each row's foreign usage is outsiders plus the other rows' listed VMs."""
    listed = defaultdict(lambda: [0, 0, 0])
    for v, _ in vms:
        if v["status"] not in ("requested", "gone"):
            _add(listed[(v["group"], v["cloud"])], v["cores"], v["ram_mb"], 1)
    projects = {}
    for c in clouds:
        if c.endpoint_key not in projects:
            caps = Quota(
                cores_max=draw(quota_cap),
                ram_max_mb=draw(st.sampled_from([-1, 100_000, 400_000])),
                instances_max=draw(st.sampled_from([-1, 3, 12])),
            )
            projects[c.endpoint_key] = (
                caps,
                [draw(st.integers(0, 30)), draw(st.integers(0, 40_000)), draw(st.integers(0, 3))],
            )
    out = []
    for c in clouds:
        caps, outsiders = projects[c.endpoint_key]
        rows = [listed[o.key] for o in clouds if o.endpoint_key == c.endpoint_key]
        total = [outsiders[i] + sum(r[i] for r in rows) for i in range(3)]
        foreign = [total[i] - listed[c.key][i] for i in range(3)]
        quota = replace(
            caps,
            cores_used=total[0],
            ram_used_mb=total[1],
            instances_used=total[2],
            foreign_cores=foreign[0],
            foreign_ram_mb=foreign[1],
            foreign_vms=foreign[2],
        )
        out.append(replace(c, quota=quota))
    return out


POLICY = Policy(new_vms_throttle=6, max_boot_per_cycle=4)


@pytest.mark.properties
@SETTINGS
@given(snapshots())
def test_never_over_any_limit_after_the_plan(snap):
    result = plan(snap, POLICY, NOW)
    vms = snap.vms[snap.vms["status"] != "gone"]
    by_row = {c.key: c for c in snap.clouds}
    ep = {c.key: c.endpoint_key for c in snap.clouds}
    own, unlisted = defaultdict(lambda: [0, 0, 0]), defaultdict(lambda: [0, 0, 0])
    new_vms = defaultdict(int)
    for row in vms.itertuples():
        key = (row.group, row.cloud)
        _add(own[key], row.cores, row.ram_mb, 1)
        if row.status == "requested":
            _add(unlisted[key], row.cores, row.ram_mb, 1)
    state = dict(zip(snap.vms["vm_id"], _states(snap), strict=True))
    for row in vms.itertuples():
        if state[row.vm_id] in ("starting", "unregistered"):
            new_vms[ep.get((row.group, row.cloud), f"{row.group}/{row.cloud}")] += 1
    booted = defaultdict(lambda: [0, 0, 0])
    for b in result.boots:
        _add(booted[(b.group, b.cloud)], b.count * b.cores, b.count * b.ram_mb, b.count)
    zero = [0, 0, 0]
    for key, (_, _, count) in list(booted.items()):
        c, q, lim = by_row[key], by_row[key].quota, by_row[key].limits
        assert count <= (
            c.max_boot_per_cycle if c.max_boot_per_cycle is not None else POLICY.max_boot_per_cycle
        )
        after = [own[key][i] + booted[key][i] for i in range(3)]
        others = [
            sum(
                unlisted.get(k, zero)[i] + booted.get(k, zero)[i]
                for k in by_row
                if k != key and ep[k] == ep[key]
            )
            for i in range(3)
        ]
        foreign = [q.foreign_cores + others[0], q.foreign_ram_mb + others[1], q.foreign_vms + others[2]]
        everyone_new = [
            sum(unlisted.get(k, zero)[i] + booted.get(k, zero)[i] for k in by_row if ep[k] == ep[key])
            for i in range(3)
        ]
        for cap, used in [
            (lim.cores_ctl, after[0]),
            (lim.cores_softmax, after[0] + foreign[0]),
            (q.cores_max, after[0] + foreign[0]),
            (lim.ram_ctl, after[1]),
            (q.ram_max_mb, after[1] + foreign[1]),
            (lim.max_vms, after[2]),
            (q.instances_max, after[2] + foreign[2]),
            (q.cores_max, q.cores_used + everyone_new[0]),
            (q.instances_max, q.instances_used + everyone_new[2]),
        ]:
            assert cap < 0 or used <= cap, (key, cap, used)
    for endpoint in {ep[k] for k in booted}:
        planned = sum(v[2] for k, v in booted.items() if ep[k] == endpoint)
        assert new_vms[endpoint] + planned <= POLICY.new_vms_throttle


@pytest.mark.properties
@SETTINGS
@given(snapshots())
def test_busy_and_manual_vms_are_safe(snap):
    result = plan(snap, POLICY, NOW)
    slots = snap.slots
    busy = set(slots.loc[slots["state"] == "Claimed", "vm_id"])
    rows = snap.vms.set_index("vm_id")
    for d in result.deletes:
        assert not rows.at[d.vm_id, "manual"]
        if d.vm_id in busy:
            assert d.reason == D.OPERATOR_KILL, d
    acted = {a.vm_id for a in result.retires + result.deletes}
    for d in result.drains + result.undrains:
        assert not rows.at[d.vm_id, "manual"] and d.vm_id not in acted, d
    for r in result.retires:
        assert not rows.at[r.vm_id, "manual"]
        already_asked = rows.at[r.vm_id, "retire_requested_at"] is not None and not _nat(
            rows.at[r.vm_id, "retire_requested_at"]
        )
        if r.vm_id in busy and not already_asked:
            assert r.reason in GRACEFUL, r


@pytest.mark.properties
@SETTINGS
@given(snapshots(), st.randoms(use_true_random=False))
def test_same_input_same_plan_in_any_row_order(snap, rnd):
    first = plan(snap, POLICY, NOW)
    assert plan(snap, POLICY, NOW) == first
    shuffled = replace(
        snap,
        jobs=snap.jobs.sample(frac=1, random_state=rnd.randint(0, 2**31)).reset_index(drop=True),
        vms=snap.vms.sample(frac=1, random_state=rnd.randint(0, 2**31)).reset_index(drop=True),
        slots=snap.slots.sample(frac=1, random_state=rnd.randint(0, 2**31)).reset_index(drop=True),
        clouds=tuple(rnd.sample(list(snap.clouds), len(snap.clouds))),
    )
    assert plan(shuffled, POLICY, NOW) == first


@pytest.mark.properties
@SETTINGS
@given(snapshots())
def test_a_stale_source_produces_no_action_on_it(snap):
    result = plan(snap, POLICY, NOW)
    stale_clouds = {c.key for c in snap.clouds if c.stale}
    stale_pools = {g.name for g in snap.groups if g.pool_stale}
    for b in result.boots:
        assert (b.group, b.cloud) not in stale_clouds and b.group not in stale_pools
    for a in result.drains + result.undrains:
        assert (a.group, a.cloud) not in stale_clouds and a.group not in stale_pools
    for a in result.retires + result.deletes:
        assert (a.group, a.cloud) not in stale_clouds
        if a.group in stale_pools:
            assert a.reason == D.OPERATOR_KILL


def _add(acc: list[int], cores: int, ram: int, n: int) -> None:
    acc[0] += int(cores)
    acc[1] += int(ram)
    acc[2] += n


def _nat(value) -> bool:
    import pandas as pd

    return pd.isna(value)


def _states(snap):
    from include.scheduler.fleet import derive

    return derive(snap.vms, snap.slots).col("state")
