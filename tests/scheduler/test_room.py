"""Room for a waiting multi-core job, from the submitter's side: my 8-core job has waited half an hour,
the group is at its cores limit, and every core that frees goes to the 1-core jobs queued behind mine.
The planner drains the VMs nearest to having 8 free cores (only as many as jobs wait, at most a few at a
time), and resumes each the moment the cores are there, so my job starts; it never touches a drain that
is not its own."""

from __future__ import annotations

from dataclasses import replace

import pytest

from include.scheduler.fleet import ROOM_DRAIN
from include.scheduler.model import Limits
from include.scheduler.planner import plan
from include.scheduler.reasons import RetireReason as R
from include.scheduler.reasons import SkipReason as S
from tests.scheduler.builders import (
    NOW,
    POLICY,
    ago,
    backoff,
    cloud,
    drained_slots,
    group,
    idle_jobs,
    snapshot,
    vm,
)

AT_LIMIT = cloud(limits=Limits(cores_ctl=40))  # the four VMs below fill it


def busy_vm(vm_id: str, jobs: tuple[int, ...], cores: int = 8, **kw):
    """A running VM of ours and the slots of its ``jobs`` (their cores), the rest of its cores free."""
    row, slots = vm(vm_id, cores=cores, free_cores=cores - sum(jobs), **kw)
    (claimed,) = [s for s in slots if s["slot_type"] == "Dynamic"]
    return row, [s for s in slots if s is not claimed] + [dict(claimed, cores=c) for c in jobs]


def full_site():
    """Four VMs at the cores limit, by how soon eight cores come free on each."""
    return [
        busy_vm("a-eight-ones", (1,) * 8),  # all eight jobs must end
        busy_vm("b-sixteen-ones", (1,) * 16, cores=16),  # any eight of sixteen: soonest
        busy_vm("c-one-eight", (8,)),  # its one job's end
        busy_vm("d-half-free", (1,) * 4),  # four free, all four jobs must end
    ]


def waiting(n: int, waited: float = 2400, cores: int = 8) -> list[dict]:
    return idle_jobs(n, cores=cores, ram_mb=2000 * cores, q_date=ago(waited))


def drained(result) -> list[str]:
    return [str(d.vm_id) for d in result.drains]


def undrained(result) -> list[str]:
    return [str(u.vm_id) for u in result.undrains]


def test_the_vms_nearest_to_the_cores_drain_for_multi_core_jobs_held_at_the_limits():
    snap = snapshot(clouds=[AT_LIMIT], vms=full_site(), jobs=waiting(2) + waiting(20, cores=1))
    result = plan(snap, POLICY, NOW)
    assert result.boots == ()
    # soonest first: any 8 of b's 16 jobs (0.66 mean run times), c's one job (1.0), all four of d's
    # (2.08), all eight of a's (2.72)
    assert drained(result) == ["b-sixteen-ones", "c-one-eight"]
    for d in result.drains:
        assert d.reason.startswith(ROOM_DRAIN) and d.cores == 8
        assert "8-core jobs wait" in d.detail and "limits" in d.detail
    assert not {r.vm_id for r in result.retires} & set(drained(result)), "a drain is no retire"


def test_no_drain_before_the_job_has_waited_or_when_turned_off():
    snap = snapshot(clouds=[AT_LIMIT], vms=full_site(), jobs=waiting(2, waited=600))
    assert drained(plan(snap, POLICY, NOW)) == []
    snap = snapshot(clouds=[AT_LIMIT], vms=full_site(), jobs=waiting(2))
    assert drained(plan(snap, replace(POLICY, room_drain_after=0), NOW)) == []


def test_one_core_jobs_never_drain_anything():
    snap = snapshot(clouds=[AT_LIMIT], vms=full_site(), jobs=waiting(40, cores=1))
    assert drained(plan(snap, POLICY, NOW)) == []


@pytest.mark.parametrize("why", ["room-to-boot", "backed-off"])
def test_no_drain_where_a_boot_will_come(why):
    """Below the limits the job gets a VM of its own; a back-off passes in minutes: no cores held."""
    c = cloud() if why == "room-to-boot" else cloud(limits=Limits(cores_ctl=64))
    backoffs = [backoff(until=ago(-300))] if why == "backed-off" else []
    result = plan(snapshot(clouds=[c], vms=full_site(), jobs=waiting(2), backoffs=backoffs), POLICY, NOW)
    assert drained(result) == []
    if why == "backed-off":
        assert {s.reason for s in result.skips if s.jobs} == {S.BACKOFF}
    else:
        assert sum(b.count for b in result.boots) == 2


def test_at_most_room_drain_max_vms_of_a_group_drain_at_once():
    snap = snapshot(clouds=[AT_LIMIT], vms=full_site(), jobs=waiting(6))
    assert len(drained(plan(snap, POLICY, NOW))) == 4  # every VM, the default cap
    assert drained(plan(snap, replace(POLICY, room_drain_max=1), NOW)) == ["b-sixteen-ones"]


def ours(vm_id: str, free: int, jobs: tuple[int, ...]):
    """A VM of ours that our drain holds (the pool reports it Drained with our DrainReason)."""
    row, _ = vm(vm_id, free_cores=free)
    return row, drained_slots(vm_id, reason=f"{ROOM_DRAIN} 8-core jobs", free_cores=free, jobs=jobs)


THREE_AT_LIMIT = cloud(limits=Limits(cores_ctl=24))


def site_with(drained_vm):
    """Three 8-core VMs at the cores limit, one of them drained."""
    row, slots = drained_vm
    return [vm("a-seven-busy", free_cores=1), vm("c-full", free_cores=0), (row, [])], slots


def test_a_drain_that_gathered_the_cores_ends_so_the_job_starts_there():
    vms, slots = site_with(ours("b", free=8, jobs=()))
    result = plan(snapshot(clouds=[THREE_AT_LIMIT], vms=vms, extra_slots=slots, jobs=waiting(1)), POLICY, NOW)
    assert undrained(result) == ["b"] and "8 cores free" in result.undrains[0].detail
    assert drained(result) == [], "the job has its VM: no other drains"


def test_a_drain_still_gathering_serves_its_job_and_no_second_vm_drains():
    vms, slots = site_with(ours("b", free=5, jobs=(1, 1, 1)))
    result = plan(snapshot(clouds=[THREE_AT_LIMIT], vms=vms, extra_slots=slots, jobs=waiting(1)), POLICY, NOW)
    assert result.undrains == () and drained(result) == []
    assert "b" not in {r.vm_id for r in result.retires} | {d.vm_id for d in result.deletes}


def test_a_drain_no_job_needs_any_more_ends():
    """The 8-core job was removed (or started elsewhere): the VM takes 1-core work again."""
    vms, slots = site_with(ours("b", free=5, jobs=(1, 1, 1)))
    result = plan(
        snapshot(clouds=[THREE_AT_LIMIT], vms=vms, extra_slots=slots, jobs=waiting(9, cores=1)), POLICY, NOW
    )
    assert undrained(result) == ["b"]
    assert "no multi-core job waits" in result.undrains[0].detail


def test_our_drained_vm_is_never_retired_as_drained_by_someone_else():
    """Rule 9b retires a VM an admin drained and forgot; ours is resumed instead, even when it has been
    empty for hours (its drain resumes on completion anyway)."""
    vms, slots = site_with(ours("b", free=8, jobs=()))
    slots = [dict(s, entered_state_at=ago(7200)) for s in slots]
    result = plan(snapshot(clouds=[THREE_AT_LIMIT], vms=vms, extra_slots=slots), POLICY, NOW)
    assert R.POOL_DRAINED not in {r.reason for r in result.retires}
    assert undrained(result) == ["b"]


@pytest.mark.parametrize("reason", ["by admin", "Defrag DEFRAG@cm", "cloudscheduler: retiring this VM"])
def test_a_drain_that_is_not_ours_is_never_ended_and_its_vm_not_drained_again(reason):
    row, _ = vm("b", free_cores=8)
    slots = drained_slots("b", reason=reason, free_cores=8, jobs=())
    vms = [vm("a-seven-busy", free_cores=1), (row, [])]
    result = plan(snapshot(clouds=[THREE_AT_LIMIT], vms=vms, extra_slots=slots, jobs=waiting(1)), POLICY, NOW)
    assert result.undrains == ()
    assert "b" not in drained(result)


def test_manual_vms_and_vms_of_other_owners_are_not_drained():
    vms = [
        vm("a-manual", free_cores=4, manual=True),
        vm("b-bobs", free_cores=4, owners="bob"),
        vm("c-alices", free_cores=0, owners="alice carol"),
        vm("d-full", free_cores=0),
    ]
    jobs = waiting(3)  # alice's
    assert drained(plan(snapshot(clouds=[THREE_AT_LIMIT], vms=vms, jobs=jobs), POLICY, NOW)) == [
        "c-alices",
        "d-full",
    ]


def test_another_groups_waiting_jobs_never_drain_this_groups_vms():
    """belle2's submitter queues 8-core jobs that wait at belle2's limits: atlas's VMs, beside them on the
    same cloud, are not belle2's to drain, however near to 8 free cores they are."""
    belle2_cloud = cloud("c1", group="belle2", limits=Limits(cores_ctl=8))
    vms = [*full_site(), busy_vm("belle2-full", (8,), group="belle2")]
    jobs = idle_jobs(3, cores=8, ram_mb=16000, group="belle2", q_date=ago(2400))
    snap = snapshot(groups=[group(), group("belle2")], clouds=[AT_LIMIT, belle2_cloud], vms=vms, jobs=jobs)
    assert drained(plan(snap, POLICY, NOW)) == ["belle2-full"]
