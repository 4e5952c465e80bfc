"""How many VMs to boot and where: limits after in-flight VMs, throttles, caps, priority and spreading."""

from __future__ import annotations

import pytest

from include.scheduler.model import BootVolume, Limits, Quota
from include.scheduler.planner import plan
from include.scheduler.policy import Policy
from include.scheduler.reasons import SkipReason as S
from tests.scheduler.builders import (
    LOOSE,
    NOW,
    POLICY,
    booted,
    cloud,
    demand_skip,
    group,
    idle_jobs,
    snapshot,
    vm,
)

MANY = idle_jobs(40, cores=8)  # 40 VMs of 8 cores would be needed
RUNNING_ONE = [vm("r1", state="running")]  # 8 cores, 16000 MB already ours


@pytest.mark.parametrize(
    "limits,quota,flavor,vms,reason",
    [
        (Limits(cores_ctl=32), Quota(), "c8", 3, S.CORES_CTL),
        (Limits(cores_softmax=64), Quota(foreign_cores=32), "c8", 3, S.SOFTMAX),
        (Limits(), Quota(cores_max=64, foreign_cores=16), "c8", 5, S.QUOTA),
        (Limits(ram_ctl=60000), Quota(), "c8", 2, S.RAM_CTL),
        (Limits(), Quota(ram_max_mb=100000, foreign_ram_mb=20000), "c8", 4, S.QUOTA),
        # A VM count binds, not cores: the largest flavour holds 2 jobs in each VM left.
        (Limits(), Quota(instances_max=6, foreign_vms=2), "c16", 3, S.QUOTA),
        (Limits(max_vms=4), Quota(), "c16", 3, S.MAX_VMS),
        (
            Limits(cores_ctl=32, cores_softmax=100),
            Quota(cores_max=1000, foreign_cores=10),
            "c8",
            3,
            S.CORES_CTL,
        ),
        (Limits(cores_ctl=-1, cores_softmax=-1, ram_ctl=-1, max_vms=-1), Quota(), "c8", 40, None),
    ],
    ids=[
        "cores-control",
        "softmax-minus-foreign",
        "quota-minus-foreign",
        "ram-control",
        "ram-quota-minus-foreign",
        "instance-quota-minus-foreign",
        "max-vms",
        "tightest-wins",
        "minus-one-is-unset",
    ],
)
def test_every_limit_counts_our_vms_and_foreign_usage(limits, quota, flavor, vms, reason):
    snap = snapshot(clouds=[cloud(limits=limits, quota=quota)], jobs=MANY, vms=RUNNING_ONE)
    result = plan(snap, LOOSE, NOW)
    assert booted(result) == {"c1": (flavor, vms)}
    if reason is not None:
        skip = demand_skip(result)
        assert (skip.reason, skip.jobs) == (reason, 40 - vms * (2 if flavor == "c16" else 1))


def test_vms_still_booting_or_not_yet_listed_count_against_limits():
    vms = [vm("q1", state="requested", age=30), vm("q2", state="starting", age=300)]
    snap = snapshot(clouds=[cloud(limits=Limits(cores_ctl=40))], jobs=MANY, vms=vms)
    assert booted(plan(snap, LOOSE, NOW)) == {"c1": ("c8", 3)}  # 40 - 16 = 24 cores left


@pytest.mark.parametrize("used", [60, 70])
def test_the_clouds_own_usage_counters_also_bound_boots(used):
    """Our table says nothing runs there, but the cloud reports 60 (or even 70) of 64 cores used."""
    snap = snapshot(clouds=[cloud(quota=Quota(cores_max=64, cores_used=used))], jobs=MANY)
    result = plan(snap, LOOSE, NOW)
    assert not result.boots and demand_skip(result).reason == S.QUOTA


def test_rows_sharing_a_project_share_its_quota_within_one_plan():
    groups = [group("atlas"), group("belle")]
    quota = Quota(cores_max=48)
    clouds = [
        cloud("c1", "atlas", endpoint="https://k/v3|r|p", quota=quota),
        cloud("c1", "belle", endpoint="https://k/v3|r|p", quota=quota),
    ]
    jobs = idle_jobs(10, group="atlas") + idle_jobs(10, group="belle")
    result = plan(snapshot(groups=groups, clouds=clouds, jobs=jobs), LOOSE, NOW)
    assert sum(b.count * b.cores for b in result.boots) == 48  # not 2 x 48: each row sees the other's boots
    assert demand_skip(result, "belle").reason == S.QUOTA


def test_another_rows_unlisted_vms_count_as_foreign():
    groups = [group("atlas"), group("belle")]
    quota = Quota(cores_max=48)
    clouds = [
        cloud("c1", "atlas", endpoint="e", quota=quota),
        cloud("c1", "belle", endpoint="e", quota=quota),
    ]
    belle_vms = [vm(f"b{i}", group="belle", state="requested", age=10) for i in range(4)]
    result = plan(snapshot(groups=groups, clouds=clouds, jobs=idle_jobs(10), vms=belle_vms), LOOSE, NOW)
    assert booted(result) == {"c1": ("c8", 2)}


def test_boot_volumes_are_bounded_by_the_volume_quota():
    quota = Quota(volumes_max=5, volumes_used=2, volume_gb_max=10_000)
    snap = snapshot(clouds=[cloud(boot_volume=BootVolume(gb=20), quota=quota)], jobs=MANY)
    assert booted(plan(snap, LOOSE, NOW)) == {"c1": ("c8", 3)}


@pytest.mark.parametrize(
    "policy,cloud_cap,vms",
    [
        (POLICY, None, 20),  # the shipped default (csv2's was 5: bench/README.md, P8)
        (Policy(max_boot_per_cycle=5), None, 5),
        (Policy(max_boot_per_cycle=2), None, 2),
        (POLICY, 1, 1),
        (Policy(max_boot_per_cycle=0), None, 0),
    ],
)
def test_at_most_n_vms_per_cloud_per_cycle(policy, cloud_cap, vms):
    result = plan(snapshot(clouds=[cloud(max_boot_per_cycle=cloud_cap)], jobs=MANY), policy, NOW)
    assert sum(b.count for b in result.boots) == vms
    assert demand_skip(result).reason == S.CYCLE_CAP


def test_new_vms_throttle_counts_starting_and_unregistered_vms_at_the_endpoint():
    vms = [
        vm("s1", state="starting", age=100),
        vm("u1", state="unregistered", age=400),
        vm("u2", state="unregistered", age=400, group="belle"),
    ]
    clouds = [cloud("c1", endpoint="e"), cloud("c1", "belle", endpoint="e")]
    snap = snapshot(groups=[group(), group("belle")], clouds=clouds, jobs=MANY, vms=vms)
    result = plan(snap, Policy(new_vms_throttle=5), NOW)
    assert booted(result) == {"c1": ("c8", 2)}  # 5 - 3 starting or unregistered at that endpoint
    assert demand_skip(result).reason == S.NEW_VMS_THROTTLE


@pytest.mark.parametrize(
    "idle,running,throttled", [(10, 0, True), (9, 0, False), (12, 150, False), (15, 150, True)]
)
def test_no_boots_while_idle_vms_reach_max_of_throttle_and_a_tenth_of_running(idle, running, throttled):
    """16-core jobs cannot use the 8-core idle VMs, so only the throttle stands between them and a boot."""
    vms = [vm(f"i{n}", state="idle", idle_for=30) for n in range(idle)]
    vms += [vm(f"r{n}", state="running") for n in range(running)]
    snap = snapshot(jobs=idle_jobs(3, cores=16, ram_mb=30000), vms=vms)
    result = plan(snap, POLICY, NOW)
    assert bool(result.boots) != throttled
    if throttled:
        assert demand_skip(result).reason == S.IDLE_VMS_THROTTLE


def test_lower_priority_value_boots_first_and_the_next_takes_the_rest():
    clouds = [cloud("first", priority=0, limits=Limits(cores_ctl=24)), cloud("second", priority=1)]
    result = plan(snapshot(clouds=clouds, jobs=idle_jobs(5)), LOOSE, NOW)
    assert booted(result) == {"first": ("c8", 3), "second": ("c8", 2)}


def test_a_better_priority_cloud_that_is_full_does_not_stop_the_next():
    clouds = [cloud("first", priority=0, quota=Quota(cores_max=0)), cloud("second", priority=5)]
    assert booted(plan(snapshot(clouds=clouds, jobs=idle_jobs(2)), POLICY, NOW)) == {"second": ("c8", 2)}


def test_priority_is_real_not_just_order_of_listing():
    clouds = [cloud("zzz", priority=0), cloud("aaa", priority=1)]
    assert booted(plan(snapshot(clouds=clouds, jobs=idle_jobs(2)), POLICY, NOW)) == {"zzz": ("c8", 2)}


def test_equal_priority_clouds_share_evenly():
    clouds = [cloud(n) for n in ("c1", "c2", "c3")]
    result = plan(snapshot(clouds=clouds, jobs=idle_jobs(6)), POLICY, NOW)
    assert booted(result) == {"c1": ("c8", 2), "c2": ("c8", 2), "c3": ("c8", 2)}


def test_equal_priority_spreading_evens_out_existing_vms():
    clouds = [cloud(n) for n in ("c1", "c2", "c3")]
    vms = [vm(f"r{i}", cloud="c1", state="running") for i in range(3)]
    result = plan(snapshot(clouds=clouds, jobs=idle_jobs(4), vms=vms), POLICY, NOW)
    assert booted(result) == {"c2": ("c8", 2), "c3": ("c8", 2)}


def test_one_boot_action_per_cloud_per_cycle_and_the_other_shape_waits():
    jobs = idle_jobs(2, cores=8) + idle_jobs(2, cores=2, ram_mb=3000)
    result = plan(snapshot(jobs=jobs), POLICY, NOW)
    assert len(result.boots) == 1
    assert demand_skip(result).reason == S.CYCLE_CAP


def test_shapes_needing_the_same_vm_share_one_boot_action():
    jobs = idle_jobs(2, cores=8) + idle_jobs(2, cores=7, ram_mb=15000)
    (boot,) = plan(snapshot(jobs=jobs), POLICY, NOW).boots
    assert (boot.flavor, boot.count) == ("c8", 4)
    assert sorted(s.jobs for s in boot.serves) == [2, 2]


def test_one_action_per_group_and_cloud_so_many_clouds_boot_at_once():
    clouds = [cloud(f"c{i}") for i in range(20)]
    result = plan(snapshot(clouds=clouds, jobs=idle_jobs(100)), POLICY, NOW)
    assert len(result.boots) == 20 and sum(b.count for b in result.boots) == 100


def test_the_least_covered_shape_goes_first():
    """Shape A already has VMs booting for half its jobs; shape B has none: B gets the cloud."""
    jobs = idle_jobs(4, cores=8, target_alias="west") + idle_jobs(4, cores=4, ram_mb=8000)
    vms = [vm(f"s{i}", state="starting", age=60, target_alias="west") for i in (1, 2)]
    (boot,) = plan(snapshot(clouds=[cloud(aliases={"west"})], jobs=jobs, vms=vms), POLICY, NOW).boots
    assert (boot.flavor, boot.target_alias) == ("c4", None)


def test_higher_job_priority_goes_first():
    jobs = idle_jobs(4, cores=8) + idle_jobs(4, cores=4, ram_mb=8000, priority=10)
    (boot,) = plan(snapshot(jobs=jobs), POLICY, NOW).boots
    assert boot.flavor == "c4"


def test_a_boot_never_pushes_a_row_booting_in_the_same_plan_over_its_soft_max():
    """c1 yields to other usage of the project (soft-max 16 minus foreign); once c1 boots in this plan,
    c2's boots count as foreign to it, so they stop where c1 would go over (it would retire them next)."""
    clouds = [cloud("c1", endpoint="e", limits=Limits(cores_softmax=16)), cloud("c2", endpoint="e")]
    result = plan(snapshot(clouds=clouds, jobs=idle_jobs(6)), POLICY, NOW)
    assert booted(result) == {"c1": ("c8", 1), "c2": ("c8", 1)}
    assert demand_skip(result).reason == S.SOFTMAX
