"""Demand: idle jobs by shape, the group's job defaults, owners admitted, VM* strings parsed."""

from __future__ import annotations

import pytest

from include.scheduler.demand import choice_for, shapes_of
from include.scheduler.model import JobDefaults
from include.scheduler.planner import plan
from include.scheduler.reasons import SkipReason
from include.scheduler.tables import jobs_frame
from tests.scheduler.builders import NOW, POLICY, group, idle_jobs, running_jobs, snapshot


def shapes(jobs, groups=None):
    groups = groups or [group()]
    return shapes_of(jobs_frame(jobs), {g.name: g for g in groups})


def test_idle_jobs_of_one_shape_are_one_demand_group():
    (s,), skips = shapes(idle_jobs(40, cores=8) + idle_jobs(2, cores=8, owner="bob"))
    assert (s.jobs, s.cores, s.ram_mb, s.owners) == (42, 8, 16000, ("alice", "bob")) and not skips


def test_shapes_differ_by_every_request():
    found, _ = shapes(
        idle_jobs(1, cores=8)
        + idle_jobs(1, cores=4)
        + idle_jobs(1, ram_mb=2000)
        + idle_jobs(1, target_alias="west")
        + idle_jobs(1, image="alma9")
        + idle_jobs(1, instance_type="c1:c8")
        + idle_jobs(1, keep_alive=900.0)
        + idle_jobs(1, max_price=0.5)
        + idle_jobs(1, network="private")
    )
    assert len(found) == 9
    assert len({s.key for s in found}) == 9


def test_running_and_held_jobs_are_not_demand():
    found, _ = shapes(running_jobs(5) + idle_jobs(3, status=5) + idle_jobs(2))
    assert [s.jobs for s in found] == [2]


def test_jobs_that_state_nothing_get_the_group_job_defaults():
    defaults = JobDefaults(cores=4, ram_mb=7000, disk_gb=30.0, swap_gb=1.0)
    (s,), _ = shapes(
        idle_jobs(3, cores=float("nan"), ram_mb=0, disk_gb=float("nan"), swap_gb=float("nan")),
        [group(job_defaults=defaults)],
    )
    assert (s.cores, s.ram_mb, s.disk_gb, s.swap_gb) == (4, 7000, 30.0, 1.0)


def test_fractional_requests_round_up():
    (s,), _ = shapes(idle_jobs(1, cores=1.5, ram_mb=1999.2))
    assert (s.cores, s.ram_mb) == (2, 2000)


@pytest.mark.parametrize(
    "submitters,members,owner,admitted",
    [
        (("ALL",), (), "anyone", True),
        ((), ("alice",), "alice", True),
        (("bob",), (), "bob", True),
        (("bob",), ("alice",), "mallory", False),
        ((), (), "alice", False),
    ],
    ids=["ALL-admits-everyone", "member", "other-submitter", "stranger-refused", "nobody-listed"],
)
def test_owners_are_admitted_by_membership_or_other_submitters(submitters, members, owner, admitted):
    found, skips = shapes(idle_jobs(7, owner=owner), [group(submitters=submitters, members=members)])
    assert bool(found) == admitted
    if not admitted:
        (skip,) = skips
        assert (skip.reason, skip.jobs) == (SkipReason.OWNER_NOT_ADMITTED, 7) and owner in skip.detail


def test_jobs_of_an_unknown_group_are_skipped_and_foreign_jobs_ignored():
    found, skips = shapes(idle_jobs(3, group="cms") + idle_jobs(4, group=None))
    assert not found
    assert [(s.group, s.reason, s.jobs) for s in skips] == [("cms", SkipReason.GROUP_UNKNOWN, 3)]


def test_unadmitted_jobs_show_in_the_plan_skips():
    snap = snapshot(groups=[group(submitters=())], jobs=idle_jobs(5, owner="eve"))
    result = plan(snap, POLICY, NOW)
    assert not result.boots
    assert [s.reason for s in result.skips] == [SkipReason.OWNER_NOT_ADMITTED]


@pytest.mark.parametrize(
    "spec,cloud,expected",
    [
        ("cernvm", "c1", "cernvm"),
        ("c1:alma9,c2:rocky", "c1", "alma9"),
        ("c1:alma9,c2:rocky", "c2", "rocky"),
        ("c1:alma9,default:cernvm", "c3", "cernvm"),
        ("c1:alma9", "c3", None),
        ("c1:alma9,cernvm", "c3", "cernvm"),
        (None, "c1", None),
        (" c1 : alma9 , default : cernvm ", "c1", "alma9"),
    ],
)
def test_vm_attribute_strings_name_a_value_per_cloud(spec, cloud, expected):
    assert choice_for(spec, cloud) == expected


def test_oldest_queue_date_and_highest_priority_are_kept():
    from tests.scheduler.builders import ago

    (s,), _ = shapes(idle_jobs(1, q_date=ago(50), priority=1) + idle_jobs(1, q_date=ago(900), priority=7))
    assert s.oldest == ago(900) and s.priority == 7
