"""Supply already there or coming, counted in job slots: capacity is taken before demand."""

from __future__ import annotations

import pytest

from include.scheduler.planner import plan
from tests.scheduler.builders import NOW, POLICY, ago, cloud, idle_jobs, snapshot, vm


def vms_booted(jobs, vms, clouds=None) -> int:
    return sum(b.count for b in plan(snapshot(jobs=jobs, vms=vms, clouds=clouds), POLICY, NOW).boots)


@pytest.mark.parametrize(
    "jobs,vms,boots",
    [
        (idle_jobs(2, cores=8), [vm("big", state="idle", cores=16, ram_mb=32000, idle_for=30)], 0),
        (idle_jobs(3, cores=8), [vm("big", state="idle", cores=16, ram_mb=32000, idle_for=30)], 1),
        (idle_jobs(2, cores=8), [vm("s1", state="starting", cores=16, ram_mb=32000, age=60)], 0),
        (idle_jobs(2, cores=8), [vm("u1", state="unregistered", age=400)], 1),
        (idle_jobs(2, cores=8), [vm("r1", state="running", cores=16, ram_mb=32000, free_cores=8)], 1),
        (idle_jobs(2, cores=8), [vm("r1", state="running")], 2),
        (idle_jobs(2, cores=8), [vm("i1", state="idle", cores=4, ram_mb=8000, idle_for=30)], 2),
    ],
    ids=[
        "16-core-idle-vm-takes-two-8-core-jobs",
        "and-no-third",
        "booting-vm-counts-in-slots",
        "unregistered-vm-counts",
        "free-part-of-a-partitionable-slot-counts",
        "busy-vm-is-no-supply",
        "too-small-vm-is-no-supply",
    ],
)
def test_supply_is_counted_in_job_slots(jobs, vms, boots):
    assert vms_booted(jobs, vms) == boots


def test_retiring_vms_are_not_supply():
    vms = [vm("old", state="idle", idle_for=30, retire_requested_at=ago(10), retire_sent_at=ago(10))]
    assert vms_booted(idle_jobs(1), vms) == 1


def test_vms_this_plan_retires_are_not_supply():
    # keep-alive expired, and booted for alice: its START would not run the late owner's job
    vms = [vm("stale", state="idle", idle_for=3600, owners="alice")]
    result = plan(snapshot(jobs=idle_jobs(1, owner="late"), vms=vms), POLICY, NOW)
    assert [r.vm_id for r in result.retires] == ["stale"] and sum(b.count for b in result.boots) == 1


def test_an_idle_vm_past_its_keep_alive_stays_for_jobs_that_just_arrived():
    """No churn: retiring it to boot another VM for the job that arrived since the last negotiation costs
    a boot and a registration, and the job waits for them."""
    for owners in (None, "alice late"):
        vms = [vm("stale", state="idle", idle_for=3600, owners=owners)]
        result = plan(snapshot(jobs=idle_jobs(1, owner="late"), vms=vms), POLICY, NOW)
        assert result.retires == () and result.boots == (), owners


def test_vms_in_error_are_not_supply():
    assert vms_booted(idle_jobs(1), [vm("e1", state="error", age=60)]) == 1


def test_aliased_jobs_use_only_vms_booted_for_their_alias():
    clouds = [cloud(aliases={"west"})]
    vms = [vm("plain", state="starting", age=60)]
    assert vms_booted(idle_jobs(1, target_alias="west"), vms, clouds) == 1


def test_jobs_without_alias_may_use_any_vm_of_their_group():
    clouds = [cloud(aliases={"west"})]
    vms = [vm("w", state="starting", age=60, target_alias="west")]
    assert vms_booted(idle_jobs(1), vms, clouds) == 0


def test_other_groups_vms_are_not_supply():
    from tests.scheduler.builders import group

    snap = snapshot(
        groups=[group(), group("belle")],
        clouds=[cloud(), cloud("c1", "belle")],
        jobs=idle_jobs(1),
        vms=[vm("b", group="belle", state="idle", idle_for=30)],
    )
    assert sum(b.count for b in plan(snap, POLICY, NOW).boots) == 1


def test_plan_reports_jobs_covered_by_supply():
    result = plan(
        snapshot(jobs=idle_jobs(3), vms=[vm("s", state="starting", cores=16, ram_mb=32000, age=60)]),
        POLICY,
        NOW,
    )
    assert result.summary()["covered_jobs"] == 2 and result.summary()["idle_jobs"] == 3


def test_a_vm_whose_startd_runs_a_job_is_no_supply_while_its_cloud_still_says_building():
    """The pool is polled every 15 s, the clouds every 60 s: a VM often runs its job before its cloud
    status leaves "building". Counting it as booting supply too would cover the next job twice."""
    ahead_of_its_cloud = vm("r1", state="running", status="building")
    assert vms_booted(idle_jobs(1, cores=8), [ahead_of_its_cloud]) == 1
    assert vms_booted(idle_jobs(1, cores=8), [vm("s1", state="starting", age=60)]) == 0, (
        "a booting one is supply"
    )


def test_vm_state_prefers_the_pool_over_a_lagging_cloud_status():
    from include.scheduler.states import VmState, vm_state

    def state(status, registered, busy=False):
        return vm_state(status=status, manual=False, retiring=False, registered=registered, busy=busy)

    assert state("building", registered=True, busy=True) == VmState.RUNNING
    assert state("requested", registered=True) == VmState.IDLE
    assert state("building", registered=False) == VmState.STARTING
    assert state("unknown", registered=False) == VmState.STARTING
    assert state("active", registered=False) == VmState.UNREGISTERED


def _slow_cloud_vms(took: float) -> list:
    """Three busy VMs of c1 that each took ``took`` seconds from request to registration."""
    return [vm(f"r{i}", state="running", age=7200, registered_at=ago(7200 - took)) for i in range(3)]


@pytest.mark.parametrize(
    "took,age,late",
    [
        (120, 500, False),  # a quick cloud: the 600 s floor holds
        (120, 700, True),
        (500, 900, False),  # this cloud's VMs take 500 s: late after twice that
        (500, 1100, True),
        (5000, 7100, False),  # a very slow cloud: as long as vm_come_alive (7,200 s) allows
    ],
)
def test_a_vm_late_to_register_stops_counting_as_supply(took, age, late):
    snap = snapshot(jobs=idle_jobs(1), vms=[*_slow_cloud_vms(took), vm("u1", state="unregistered", age=age)])
    result = plan(snap, POLICY, NOW)
    assert sum(b.count for b in result.boots) == (1 if late else 0)
    assert result.stats["vms_late_to_register"] == (1 if late else 0)


def test_a_late_vm_on_one_cloud_does_not_learn_from_another_clouds_times():
    vms = [*_slow_cloud_vms(3000), vm("u1", state="unregistered", cloud="c2", age=700)]
    snap = snapshot(jobs=idle_jobs(1), vms=vms, clouds=[cloud("c1"), cloud("c2")])
    assert plan(snap, POLICY, NOW).stats["vms_late_to_register"] == 1, "c2 has no history: the floor"
