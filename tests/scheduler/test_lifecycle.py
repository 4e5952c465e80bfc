"""Retire and delete (F5): one rule per test, table-driven where the rule has cases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from include.scheduler.model import Limits, Quota
from include.scheduler.planner import plan
from include.scheduler.policy import Policy
from include.scheduler.reasons import DeleteReason as D
from include.scheduler.reasons import RetireReason as R
from include.scheduler.reasons import SkipReason as S
from tests.scheduler.builders import (
    NOW,
    POLICY,
    ago,
    cloud,
    demand_skip,
    drained_slots,
    group,
    idle_jobs,
    snapshot,
    vm,
)


def actions(snap, policy=POLICY) -> dict[str, tuple]:
    """vm_id -> ("retire", reason, resend) | ("delete", reason, boot failure, alert) | ("skip", reason)."""
    result = plan(snap, policy, NOW)
    out = {r.vm_id: ("retire", r.reason, r.resend) for r in result.retires}
    out |= {d.vm_id: ("delete", d.reason, d.count_as_boot_failure, d.alert) for d in result.deletes}
    out |= {s.subject: ("skip", s.reason) for s in result.skips if s.subject.startswith("v")}
    return out


def one(v, **snap_kw) -> tuple | None:
    return actions(snapshot(vms=[v], **snap_kw)).get(v[0]["vm_id"])


@pytest.mark.parametrize(
    "vm_keep,cloud_keep,group_keep,idle_for,retired",
    [
        (None, None, 300, 299, False),
        (None, None, 300, 301, True),
        (None, 600, 300, 500, False),
        (None, 600, 300, 601, True),
        (900, 600, 300, 700, False),
        (900, 600, 300, 901, True),
        (None, None, 30, 100, False),
        (None, None, 30, 121, True),
        (None, 0, 300, 121, True),
        (None, None, None, 121, True),
    ],
    ids=[
        "group-not-yet",
        "group-expired",
        "cloud-overrides-group",
        "cloud-expired",
        "job-overrides-cloud",
        "job-expired",
        "floor-120-holds",
        "floor-expired",
        "cloud-zero-floors-at-120",
        "nothing-set-uses-floor",
    ],
)
def test_idle_vms_are_retired_after_keep_alive(vm_keep, cloud_keep, group_keep, idle_for, retired):
    v = vm("v1", state="idle", idle_for=idle_for, keep_alive=vm_keep)
    got = one(v, clouds=[cloud(keep_alive=cloud_keep)], groups=[group(keep_alive=group_keep)])
    assert got == (("retire", R.KEEP_ALIVE, False) if retired else None)


def test_keep_alive_counts_from_the_last_slot_change_not_from_boot():
    assert one(vm("v1", state="idle", age=86_400, idle_for=100)) is None


def test_a_running_vm_is_never_retired_for_idleness():
    assert one(vm("v1", state="running", busy_for=86_400, idle_for=86_400)) is None


@pytest.mark.parametrize(
    "group_flag,cloud_flag,retired",
    [(True, None, True), (False, True, True), (True, False, False), (False, None, False)],
)
def test_delete_on_job_completion_retires_a_vm_when_its_job_ends(group_flag, cloud_flag, retired):
    v = vm("v1", state="idle", idle_for=5)
    got = one(
        v,
        groups=[group(delete_on_job_completion=group_flag)],
        clouds=[cloud(delete_on_job_completion=cloud_flag)],
    )
    assert got == (("retire", R.JOB_COMPLETED, False) if retired else None)


def test_delete_on_job_completion_waits_for_the_first_job():
    v = vm("v1", state="fresh", idle_for=5, age=400)
    assert one(v, groups=[group(delete_on_job_completion=True)]) is None


@pytest.mark.parametrize(
    "state,age,expected",
    [
        ("starting", 7000, None),
        ("starting", 7300, ("delete", D.NEVER_REGISTERED, True, True)),
        ("unregistered", 7300, ("delete", D.NEVER_REGISTERED, True, True)),
        ("fresh", 1900, None),
        ("fresh", 2200, ("retire", R.NEVER_RAN_JOB, False)),
    ],
    ids=[
        "booting-in-time",
        "never-registered",
        "active-never-registered",
        "registered-waiting",
        "registered-never-ran-a-job",
    ],
)
def test_vms_that_never_register_or_never_run_a_job(state, age, expected):
    """fresh: registered 120 s after boot, so it has waited age - 120 s for a job (vm_job_alive 1800)."""
    assert one(vm("v1", state=state, age=age)) == expected


def test_a_retired_vm_that_never_ran_a_job_counts_as_a_boot_failure_when_deleted():
    v = vm(
        "v1",
        state="unregistered",
        retire_requested_at=ago(60),
        retire_reason="never_ran_job",
        retire_sent_at=ago(60),
        retire_count=1,
        registered_at=ago(3000),
    )
    assert one(v) == ("delete", D.RETIRED, True, False)


@pytest.mark.parametrize(
    "in_error_for,busy,expected",
    [
        (200, False, None),
        (400, False, ("delete", D.ERROR, True, False)),
        (400, True, ("retire", R.ERROR, False)),
    ],
    ids=["error-not-yet", "error-timeout-deletes", "error-with-running-job-retires"],
)
def test_vms_in_error_are_deleted_and_count_as_boot_failures(in_error_for, busy, expected):
    v = vm("v1", state="error", age=9000, status_changed_at=ago(in_error_for))
    extra = [{"vm_id": "v1", "slot_type": "Dynamic", "state": "Claimed", "cores": 8}] if busy else []
    assert actions(snapshot(vms=[v], extra_slots=extra)).get("v1") == expected


@pytest.mark.parametrize(
    "state,expected",
    [
        ("running", ("retire", R.CLOUD_DISABLED, False)),
        ("idle", ("retire", R.CLOUD_DISABLED, False)),
        ("starting", ("delete", D.CLOUD_DISABLED, False, False)),
    ],
)
def test_a_drained_cloud_retires_everything(state, expected):
    assert one(vm("v1", state=state, age=600), clouds=[cloud(enabled=False)]) == expected


def test_a_paused_cloud_keeps_its_vms():
    assert one(vm("v1", state="running"), clouds=[cloud(paused=True)]) is None


def test_a_cloud_whose_credential_expires_soon_is_drained():
    got = one(vm("v1", state="running"), clouds=[cloud(credential_expiry=NOW + timedelta(days=2))])
    assert got == ("retire", R.CREDENTIAL_EXPIRING, False)


@pytest.mark.parametrize("reason", ["keep_alive", "pool_drained"])
def test_retired_vm_whose_startd_left_is_deleted(reason):
    """Whatever it was retired for (an admin's forgotten drain too), it is deleted once its startd has
    left, and it is no boot failure."""
    v = vm(
        "v1",
        state="unregistered",
        registered_at=ago(4000),
        retire_requested_at=ago(500),
        retire_reason=reason,
        retire_sent_at=ago(500),
        retire_count=1,
    )
    assert one(v) == ("delete", D.RETIRED, False, False)


def test_a_retire_is_sent_once_then_waits_while_the_startd_retires():
    asked = vm("v1", state="idle", retire_requested_at=ago(5), retire_reason="operator")
    assert one(asked) == ("retire", R.OPERATOR, False)
    sent = vm(
        "v1",
        state="running",
        retire_requested_at=ago(2000),
        retire_reason="over_limit",
        retire_sent_at=ago(2000),
        retire_count=1,
    )
    acknowledged = [{"vm_id": "v1", "slot_type": "Partitionable", "state": "Unclaimed", "retiring": True}]
    assert actions(snapshot(vms=[(sent[0], [])], extra_slots=acknowledged)).get("v1") is None


def test_a_busy_vm_that_took_no_job_since_its_retire_is_left_to_finish_without_resends_or_alerts():
    """A VM drained by attrition runs a 4 h job that started before the retire: it is doing what the
    retire asked, so there is nothing to re-send and nothing to alert about, however long the job runs."""
    v = vm(
        "v1",
        state="running",
        busy_for=14_000,
        retire_requested_at=ago(12_000),
        retire_reason="consolidate",
        retire_sent_at=ago(12_000),
        retire_count=10,
    )
    assert one(v) is None


@pytest.mark.parametrize(
    "sent_ago,count,busy,expected",
    [
        (1000, 1, False, None),
        (1100, 1, False, ("retire", R.KEEP_ALIVE, True)),
        (1100, 9, False, ("retire", R.KEEP_ALIVE, True)),
        (1100, 10, False, ("delete", D.RETIRE_TIMEOUT, False, True)),
        (1100, 10, True, ("skip", S.VM_BUSY)),
    ],
    ids=[
        "within-interval",
        "re-send-after-interval",
        "last-re-send",
        "give-up-and-delete",
        "never-kill-work",
    ],
)
def test_unanswered_retires_are_re_sent_then_given_up(sent_ago, count, busy, expected):
    v = vm(
        "v1",
        state="running" if busy else "idle",
        retire_requested_at=ago(20_000),
        retire_reason="keep_alive",
        retire_sent_at=ago(sent_ago),
        retire_count=count,
    )
    assert one(v) == expected


@pytest.mark.parametrize(
    "changes,expected",
    [
        ({}, None),
        ({"kill_requested_at": ago(1)}, ("skip", S.VM_MANUAL)),
        ({"retire_requested_at": ago(1), "retire_reason": "operator"}, ("skip", S.VM_MANUAL)),
        ({"status": "error", "status_changed_at": ago(5000)}, None),
    ],
    ids=["idle-for-ever", "kill-refused", "retire-never-sent", "error-left-alone"],
)
def test_manual_vms_are_never_touched(changes, expected):
    v = vm("v1", state="idle", idle_for=86_400, manual=True, **changes)
    assert one(v) == expected


def test_manual_vms_on_a_drained_cloud_are_left_and_reported():
    assert one(vm("v1", state="running", manual=True), clouds=[cloud(enabled=False)]) == ("skip", S.VM_MANUAL)


def test_an_operator_kill_deletes_at_once_even_with_running_jobs():
    assert one(vm("v1", state="running", kill_requested_at=ago(1))) == (
        "delete",
        D.OPERATOR_KILL,
        False,
        False,
    )


def test_a_vm_not_yet_listed_and_younger_than_two_polls_is_not_deleted():
    v = vm("v1", state="requested", age=60, kill_requested_at=ago(1))
    assert one(v) == ("skip", S.TOO_YOUNG)
    assert one(vm("v1", state="requested", age=60), clouds=[cloud(enabled=False)]) == ("skip", S.TOO_YOUNG)


def test_a_requested_vm_the_cloud_never_listed_is_forgotten_as_a_boot_failure():
    v = vm("v1", state="requested", age=400)
    assert one(v, clouds=[cloud(last_poll_at=ago(200))]) == ("delete", D.NEVER_LISTED, True, False)
    assert one(v, clouds=[cloud(last_poll_at=ago(350))]) is None  # polled only once since the request


def test_a_registered_vm_whose_startd_vanished_gets_time_to_come_back():
    left = vm("v1", state="unregistered", registered_at=ago(9000), first_job_at=ago(8000))
    assert one((left[0] | {"slots_changed_at": ago(600)}, [])) is None
    assert one((left[0] | {"slots_changed_at": ago(7300)}, [])) == ("delete", D.STARTD_LEFT, True, False)


def test_a_stale_cloud_is_frozen_not_empty():
    vms = [
        vm("v1", state="idle", idle_for=9000),
        vm("v2", state="error", age=9000),
        vm("v3", state="running", kill_requested_at=ago(1)),
    ]
    result = plan(snapshot(clouds=[cloud(stale=True)], vms=vms), POLICY, NOW)
    assert not result.retires and not result.deletes
    (skip,) = result.skips
    assert (skip.reason, skip.cloud, skip.subject) == (
        S.CLOUD_STALE,
        "c1",
        "cloud:c1",
    ) and "3 VMs" in skip.detail


def test_a_stale_pool_holds_every_automatic_retire_but_not_a_kill():
    vms = [
        vm("v1", state="idle", idle_for=9000),
        vm("v2", state="unregistered", age=9000),
        vm("v3", state="running", kill_requested_at=ago(1)),
    ]
    result = plan(snapshot(groups=[group(pool_stale=True)], vms=vms), POLICY, NOW)
    assert not result.retires
    assert [(d.vm_id, d.reason) for d in result.deletes] == [("v3", D.OPERATOR_KILL)]
    assert [s.reason for s in result.skips] == [S.POOL_STALE]


def test_vms_of_a_cloud_no_longer_configured_are_left_alone():
    assert one(vm("v1", state="idle", idle_for=9000, cloud="gone")) == ("skip", S.CLOUD_UNKNOWN)


class TestOverLimit:
    """An operator lowered a limit (or foreign usage passed the soft-max): retire the excess."""

    def fleet(self):
        return [
            vm("busy-long", state="running", busy_for=9000),
            vm("busy-short", state="running", busy_for=60),
            vm("idle-long", state="idle", idle_for=100),
            vm("idle-short", state="idle", idle_for=10),
            vm("booting", state="starting", age=200),
        ]

    @pytest.mark.parametrize(
        "limits,quota,chosen",
        [
            (Limits(cores_ctl=32), Quota(), ["booting"]),
            (Limits(cores_ctl=24), Quota(), ["booting", "idle-long"]),
            (Limits(cores_ctl=16), Quota(), ["booting", "idle-long", "idle-short"]),
            (Limits(cores_ctl=8), Quota(), ["booting", "idle-long", "idle-short", "busy-short"]),
            (Limits(cores_softmax=40), Quota(foreign_cores=16), ["booting", "idle-long"]),
            (Limits(max_vms=4), Quota(), ["booting"]),
            (Limits(ram_ctl=48000), Quota(), ["booting", "idle-long"]),
            (Limits(), Quota(instances_max=5, foreign_vms=2), ["booting", "idle-long"]),
            (Limits(cores_ctl=40), Quota(), []),
        ],
        ids=[
            "one-over",
            "two-over",
            "three-over",
            "idle-first-then-shortest-running",
            "softmax-minus-foreign",
            "max-vms",
            "ram",
            "instance-quota",
            "within-limits",
        ],
    )
    def test_least_valuable_first(self, limits, quota, chosen):
        got = actions(snapshot(clouds=[cloud(limits=limits, quota=quota)], vms=self.fleet()))
        assert sorted(got) == sorted(chosen)
        for vm_id in chosen:
            kind = "delete" if vm_id == "booting" else "retire"
            assert got[vm_id][:2] == (kind, R.OVER_LIMIT if kind == "retire" else D.OVER_LIMIT)

    def test_vms_already_leaving_count_as_gone(self):
        vms = self.fleet()
        vms[2] = vm(
            "idle-long",
            state="idle",
            idle_for=100,
            retire_requested_at=ago(50),
            retire_sent_at=ago(50),
            retire_count=1,
            retire_reason="keep_alive",
        )
        got = actions(snapshot(clouds=[cloud(limits=Limits(cores_ctl=24))], vms=vms))
        assert sorted(got) == ["booting"]

    def test_manual_vms_count_but_are_never_picked(self):
        vms = [vm("m1", state="idle", idle_for=100, manual=True), vm("r1", state="running")]
        got = actions(snapshot(clouds=[cloud(limits=Limits(cores_ctl=8))], vms=vms))
        assert got == {"r1": ("retire", R.OVER_LIMIT, False)}

    def test_over_limit_detail_names_the_limit(self):
        result = plan(snapshot(clouds=[cloud(limits=Limits(cores_ctl=32))], vms=self.fleet()), POLICY, NOW)
        assert result.deletes[0].detail == "over cores_ctl by 8"

    def test_a_stale_cloud_is_not_trimmed(self):
        got = actions(snapshot(clouds=[cloud(limits=Limits(cores_ctl=8), stale=True)], vms=self.fleet()))
        assert not [a for a in got.values() if a[0] != "skip"]


def test_policy_timeouts_come_from_settings():
    v = vm("v1", state="fresh", age=700)
    assert one(v) is None
    assert actions(snapshot(vms=[v]), Policy(vm_job_alive=500)).get("v1") == (
        "retire",
        R.NEVER_RAN_JOB,
        False,
    )


def test_an_unused_vm_no_idle_job_wants_goes_after_keep_alive_and_is_no_boot_failure():
    """Booted for jobs that then ran on a slot freed meanwhile: nothing is left for it to run."""
    unwanted = vm("v1", state="fresh", age=900, idle_for=400)
    assert one(unwanted) == ("retire", R.KEEP_ALIVE, False)


def test_an_unused_vm_is_kept_while_idle_jobs_it_could_take_wait():
    waiting = vm("v1", state="fresh", age=900, idle_for=400)
    assert one(waiting, jobs=idle_jobs(1, cores=1, ram_mb=1000)) is None
    other_alias = vm("v2", state="fresh", age=900, idle_for=400, target_alias="west")
    assert one(other_alias, jobs=idle_jobs(1, cores=1, ram_mb=1000, target_alias="east")) == (
        "retire",
        R.KEEP_ALIVE,
        False,
    ), "jobs of another alias cannot run on it"


@pytest.mark.parametrize(
    ("job_cores", "job_ram", "kept"),
    [(64, 16000, False), (8, 64000, False), (8, 16000, True), (2, 4000, True)],
    ids=["more-cores-than-any-vm", "more-memory-than-any-vm", "fits", "fits-smaller"],
)
def test_a_job_that_fits_no_vm_keeps_no_vm_waiting_for_it(job_cores, job_ram, kept):
    """A fresh VM (never ran a job) is kept while idle jobs it could take wait; one that cannot take
    them goes after its keep-alive like any idle VM, and not later as a boot failure (never_ran_job,
    which backs its cloud off) because a job no flavour fits sat in the queue."""
    v = vm("v1", state="fresh", idle_for=400, age=1000)
    snap = snapshot(
        vms=[v], jobs=idle_jobs(1, cores=job_cores, ram_mb=job_ram), groups=[group(keep_alive=300)]
    )
    got = actions(snap).get("v1")
    assert got == (None if kept else ("retire", R.KEEP_ALIVE, False))
    if not kept:
        assert demand_skip(plan(snap, POLICY, NOW)).reason == S.NO_FLAVOR_FITS  # the status page says why


def test_an_aliased_vm_is_kept_by_a_job_of_no_alias_that_fits_it():
    v = vm("v1", state="fresh", idle_for=400, age=1000, target_alias="gpu")
    jobs = idle_jobs(1, cores=64, target_alias="gpu") + idle_jobs(1, cores=4)
    assert actions(snapshot(vms=[v], jobs=jobs, groups=[group(keep_alive=300)])).get("v1") is None


def _drained_by_the_pool(
    vm_id: str, *, jobs_running: bool, drained_for: float, reason: str = "by admin"
) -> list[dict]:
    """A VM an admin drained with ``condor_drain <host>`` (nothing on completion): retiring while its
    4-core job still runs, idle once it ended."""
    return drained_slots(
        vm_id, reason=reason, free_cores=4 if jobs_running else 8, jobs=(4,) if jobs_running else (),
        drained_for=drained_for,
    )  # fmt: skip


@pytest.mark.parametrize(
    "jobs_running,empty_for,expected",
    [
        (True, 20_000, None),
        (False, 400, None),
        (False, 1100, None),
        (False, 1300, ("retire", R.POOL_DRAINED, False)),
    ],
    ids=["still-running-its-job", "empty-past-keep-alive", "empty-within-defrag-s-cancel", "empty-for-good"],
)
def test_a_vm_an_admin_drained_is_retired_once_it_has_run_dry(jobs_running, empty_for, expected):
    """A pool admin drains one of our VMs (``condor_drain``, which leaves it drained and empty, taking
    no job) and forgets it: it is not our retire, so nothing was going to delete it, and it held its
    cores for good. Once empty for 20 minutes it is retired like any idle VM (not after its keep-alive of
    300 s: condor_defrag, which drains VMs for multi-core jobs, cancels its drain of a VM that is whole
    within its 10-minute interval, and the VM is then what a multi-core job waited for); while its job
    runs it is left to finish."""
    row, _ = vm("v1", state="running" if jobs_running else "idle", idle_for=empty_for, busy_for=20_000)
    slots = _drained_by_the_pool("v1", jobs_running=jobs_running, drained_for=empty_for)
    assert all(s["retiring"] for s in slots if s["slot_type"] == "Partitionable")
    assert actions(snapshot(vms=[(row, [])], extra_slots=slots)).get("v1") == expected


def test_a_vm_condor_defrag_drains_is_left_to_it():
    """condor_defrag drains VMs to gather cores for multi-core jobs and resumes each (or cancels the
    drain) itself; its drains say so (``DrainReason = "Defrag <name>"``). Such a VM is never retired
    for being drained, however long it has been, and its free cores are no room for new jobs meanwhile."""
    row, _ = vm("v1", state="idle", idle_for=7200)
    slots = _drained_by_the_pool("v1", jobs_running=False, drained_for=7200, reason="Defrag DEFRAG@cm")
    snap = snapshot(vms=[(row, [])], extra_slots=slots, jobs=idle_jobs(4, cores=1))
    result = plan(snap, POLICY, NOW)
    assert "v1" not in {r.vm_id for r in result.retires} | {d.vm_id for d in result.deletes}
    assert sum(s.jobs for b in result.boots for s in b.serves) == 4  # the drained VM takes none of them


def test_a_vm_in_error_that_the_pool_drained_keeps_its_error_rule():
    row, _ = vm("v1", state="idle", idle_for=7200, status="error", status_changed_at=ago(7200))
    slots = _drained_by_the_pool("v1", jobs_running=False, drained_for=7200)
    assert actions(snapshot(vms=[(row, [])], extra_slots=slots)).get("v1") != (
        "retire",
        R.POOL_DRAINED,
        False,
    )
