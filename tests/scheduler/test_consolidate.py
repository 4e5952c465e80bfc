"""Consolidation by attrition, from the side of the site paying for cores: after a burst, VMs drain one
job at a time and most of their cores sit idle; the planner retires the least-filled ones peacefully
(their jobs finish, they take no new job) while the group waits for nothing and the VMs that stay keep
a VM's worth of free cores for the next jobs."""

from __future__ import annotations

from dataclasses import replace

from include.scheduler.model import Limits
from include.scheduler.planner import plan
from include.scheduler.reasons import RetireReason
from tests.scheduler.builders import LOOSE, NOW, cloud, idle_jobs, snapshot, vm


def draining_fleet(busy_for: float = 120):
    """Four 8-core VMs: one full, one 6 busy, one 2 busy, one 1 busy (free cores 0, 2, 6, 7), their jobs
    started ``busy_for`` seconds ago (short jobs next to the 300 s keep-alive)."""
    return [
        vm("full", free_cores=0, busy_for=busy_for),
        vm("mostly", free_cores=2, busy_for=busy_for),
        vm("quarter", free_cores=6, busy_for=busy_for),
        vm("one-job", free_cores=7, busy_for=busy_for),
    ]


def consolidated(result) -> list[str]:
    return [r.vm_id for r in result.retires if r.reason == RetireReason.CONSOLIDATE]


def test_least_filled_vms_drain_while_a_reserve_of_free_cores_stays():
    result = plan(snapshot(vms=draining_fleet()), LOOSE, NOW)
    # 15 free cores; the reserve is one 8-core VM's worth: one-job (7 free) goes, quarter (6) would
    # leave 2 < 8, so it stays; mostly is 75 % busy, above consolidate_below
    assert consolidated(result) == ["one-job"]
    (retire,) = [r for r in result.retires if r.vm_id == "one-job"]
    assert "1 of 8 cores busy" in retire.detail and "leaves when its jobs end" in retire.detail
    assert result.boots == () and result.deletes == ()


def test_no_drain_while_jobs_wait_for_the_group():
    """Idle jobs the VMs could take: the free cores are about to be used, draining would force boots."""
    result = plan(snapshot(jobs=idle_jobs(1, cores=1), vms=draining_fleet()), LOOSE, NOW)
    assert consolidated(result) == []


def test_no_drain_while_a_vm_of_the_group_boots():
    """A VM booting means demand came a moment ago (its jobs may already have started elsewhere)."""
    vms = [*draining_fleet(), vm("booting", state="starting", age=60)]
    assert consolidated(plan(snapshot(vms=vms), LOOSE, NOW)) == []


def test_a_lone_partly_filled_vm_is_the_reserve_and_stays():
    assert consolidated(plan(snapshot(vms=[vm("one-job", free_cores=7, busy_for=60)]), LOOSE, NOW)) == []


def test_the_setting_turns_it_off_and_manual_vms_are_never_drained():
    assert consolidated(plan(snapshot(vms=draining_fleet()), replace(LOOSE, consolidate_below=0), NOW)) == []
    vms = draining_fleet()
    vms[3][0]["manual"] = True  # one-job
    assert consolidated(plan(snapshot(vms=vms), LOOSE, NOW)) == []


def test_each_alias_keeps_its_own_reserve():
    """A VM of another alias cannot take this alias's jobs: its free cores are no reserve here."""
    vms = [
        vm("east-1", free_cores=7, busy_for=60, target_alias="east"),
        vm("west-1", free_cores=7, busy_for=60, target_alias="west"),
    ]
    assert consolidated(plan(snapshot(vms=vms), LOOSE, NOW)) == []


def test_no_drain_where_the_group_is_at_its_limits():
    """A drained VM holds its cores until its last job ends, maybe hours: at the cloud's cores limit
    that would keep capacity from the next jobs (8-core jobs starved first), so nothing drains."""
    at_limit = cloud(limits=Limits(cores_ctl=32))
    assert consolidated(plan(snapshot(clouds=[at_limit], vms=draining_fleet()), LOOSE, NOW)) == []
    roomy = cloud(limits=Limits(cores_ctl=40))  # room for the one-job VM's 7 held-back cores
    assert consolidated(plan(snapshot(clouds=[roomy], vms=draining_fleet()), LOOSE, NOW)) == ["one-job"]


def test_no_drain_where_jobs_run_for_hours():
    """Jobs that have run two hours on average will, at a random moment, run about as long again: a
    drained VM would hold its free cores for hours to save one keep-alive, while new work boots
    elsewhere (belle2-day's 8-core jobs starved), so nothing drains."""
    assert consolidated(plan(snapshot(vms=draining_fleet(busy_for=7200)), LOOSE, NOW)) == []
    assert consolidated(plan(snapshot(vms=draining_fleet(busy_for=290)), LOOSE, NOW)) == ["one-job"]
