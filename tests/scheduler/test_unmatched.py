"""Jobs whose Requirements exclude our VMs (a GPU job beside CPU flavours), from the side of the site that
pays for the idle VMs they would otherwise keep booting and holding: the pool's negotiator refused the
job while an idle VM of ours that fits it was free, so the planner sets the job aside for
``job_unmatched_recheck`` seconds, says why, and counts it again after that."""

from __future__ import annotations

from dataclasses import replace

from include.scheduler.planner import plan
from include.scheduler.reasons import RetireReason, SkipReason
from include.scheduler.unmatched import Unmatched
from tests.scheduler.builders import LOOSE, NOW, ago, booted, idle_jobs, snapshot, vm

GPU_JOB = "sched#1.0#1"


def gpu_job(rejected_s_ago: float | None = 30, **kw) -> list[dict]:
    rejected = ago(rejected_s_ago) if rejected_s_ago is not None else None
    return idle_jobs(1, job_id=GPU_JOB, rejected_at=rejected, **kw)


def idle_vm(idle_for: float = 200, **kw):
    """Booted for the job, registered, never ran anything: what such a job leaves behind."""
    return vm("v1", state="fresh", age=600, idle_for=idle_for, owners=kw.pop("owners", "alice"), **kw)


def test_a_job_refused_beside_a_fitting_idle_vm_boots_nothing_and_keeps_nothing():
    result = plan(snapshot(jobs=gpu_job(rejected_s_ago=30), vms=[idle_vm(idle_for=400)]), LOOSE, NOW)
    assert result.boots == ()
    assert [(r.vm_id, r.reason) for r in result.retires] == [("v1", RetireReason.KEEP_ALIVE)]
    (skip,) = [s for s in result.skips if s.jobs]
    assert (skip.reason, skip.jobs) == (SkipReason.REQUIREMENTS_UNMATCHED, 1)
    assert "v1" in skip.detail and GPU_JOB in skip.detail
    assert [(u.job_id, u.vm_id, u.since) for u in result.unmatched] == [(GPU_JOB, "v1", NOW)]


def test_without_the_rejection_the_same_job_keeps_its_vm():
    """The control: a job not (yet) refused is demand like any other, and the idle VM waits for it."""
    result = plan(snapshot(jobs=gpu_job(rejected_s_ago=None), vms=[idle_vm(idle_for=400)]), LOOSE, NOW)
    assert result.retires == () and result.unmatched == ()


def test_a_rejection_from_before_the_vm_was_free_says_nothing():
    """Refused at a cycle when the VM was still busy or booting: the job may well match it now."""
    result = plan(snapshot(jobs=gpu_job(rejected_s_ago=600), vms=[idle_vm(idle_for=400)]), LOOSE, NOW)
    assert result.retires == () and result.unmatched == ()


def test_a_rejection_beside_a_vm_too_small_for_the_job_says_nothing():
    """16 cores beside an 8-core VM: the pool could not place it there whatever its Requirements."""
    result = plan(snapshot(jobs=gpu_job(cores=16, ram_mb=30000), vms=[idle_vm()]), LOOSE, NOW)
    assert result.unmatched == ()
    assert booted(result) == {"c1": ("c16", 1)}


def test_a_rejection_beside_a_vm_booted_for_another_owner_says_nothing():
    """csv2's templates let a VM's startd START only the owners it was booted for: bob's job refused
    beside alice's VM says nothing of bob's Requirements: his job stays demand."""
    result = plan(snapshot(jobs=gpu_job(owner="bob"), vms=[idle_vm(owners="alice carol")]), LOOSE, NOW)
    assert result.unmatched == () and not [s for s in result.skips if s.jobs]
    control = plan(snapshot(jobs=gpu_job(owner="carol"), vms=[idle_vm(owners="alice carol")]), LOOSE, NOW)
    assert [u.job_id for u in control.unmatched] == [GPU_JOB]


def test_a_rejection_beside_a_vm_of_another_alias_says_nothing():
    result = plan(
        snapshot(jobs=gpu_job(target_alias="gpu-site"), vms=[idle_vm(target_alias="cpu-site")]), LOOSE, NOW
    )
    assert result.unmatched == ()


def test_the_mark_holds_after_the_vm_is_gone_until_the_recheck():
    """The VM retired; the job is still refused at every cycle, now beside nothing: it stays aside (no
    boot) until the recheck, then asks for one VM again."""
    mark = Unmatched("atlas", GPU_JOB, ago(3600), "v1")
    snap = replace(snapshot(jobs=gpu_job(rejected_s_ago=10)), unmatched={("atlas", GPU_JOB): mark})
    held = plan(snap, LOOSE, NOW)
    assert held.boots == () and held.unmatched == (mark,)
    later = plan(snap, replace(LOOSE, job_unmatched_recheck=3000), NOW)
    assert booted(later) == {"c1": ("c8", 1)} and later.unmatched == ()


def test_other_jobs_of_the_same_shape_still_boot():
    """Only the refused job is set aside: its neighbours in the queue are demand as before."""
    jobs = gpu_job() + idle_jobs(3, job_id=None)
    result = plan(snapshot(jobs=jobs, vms=[idle_vm(idle_for=400)]), LOOSE, NOW)
    assert [u.job_id for u in result.unmatched] == [GPU_JOB]
    assert result.retires == (), "the idle VM is wanted by the other three"
    assert booted(result) == {"c1": ("c8", 2)}, "3 jobs, 1 covered by the idle VM"


def test_an_adopted_vm_whose_owners_are_unknown_speaks_for_anyone():
    """A VM adopted from csv2 has no boot request: it keeps any fitting job's VM (wanted), so a job
    refused beside it must be set aside too, or that pair would idle forever."""
    result = plan(snapshot(jobs=gpu_job(owner="bob"), vms=[idle_vm(owners=None)]), LOOSE, NOW)
    assert [u.job_id for u in result.unmatched] == [GPU_JOB] and result.boots == ()
