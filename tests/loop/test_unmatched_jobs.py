"""A job whose Requirements no VM of ours satisfies (``TARGET.HasGPU =?= true`` on a CPU-only site), through
the real loop and the simulated pool's negotiator (which evaluates Requirements with the real ClassAd
evaluator and notes "no match found" on the job as a schedd does): one VM is booted for it, the pool
refuses the job beside that idle VM, the VM goes after its keep-alive (not as a boot failure), and no
further VM is booted for the job until the recheck; the status page says why."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from include.store.db import session_scope
from include.store.models import BootRequest, Job, PlanSkip, UnmatchedJob, Vm
from tests.loop.world import World, site

GPU = "TARGET.HasGPU =?= true"


def booted(world: World) -> int:
    with session_scope(world.engine) as s:
        return s.scalar(select(func.coalesce(func.sum(BootRequest.count), 0)))


def test_a_job_no_vm_of_ours_matches_stops_asking_for_vms(state_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    world = World.create(state_url, site(settings={"max_boot_per_cycle": 5, "keep_alive_floor": 0}))
    (gpu_job,) = world.submit(1, cores=8, ram_mb=16000, requirements=GPU)
    world.submit(2, cores=8, ram_mb=16000, duration_s=300)  # ordinary work beside it
    world.cycle()
    assert booted(world) == 3, "before the pool has had its say, the GPU job is demand like any other"

    world.run_until(lambda w: w.counts()["jobs"].get(4, 0) == 2, limit_s=1200)  # the others completed
    with session_scope(world.engine) as s:
        job = s.scalars(select(Job).where(Job.global_job_id == gpu_job)).one()
        assert job.status == 1 and job.rejected_at is not None, "the schedd noted the rejection"
        mark = s.get(UnmatchedJob, ("atlas", gpu_job))
        assert mark is not None and mark.vm_id
    world.run(1800, step=60)
    with session_scope(world.engine) as s:
        left = s.scalars(select(Vm)).all()
        skips = s.scalars(select(PlanSkip).where(PlanSkip.reason == "requirements_unmatched")).all()
        still = s.get(UnmatchedJob, ("atlas", gpu_job))
    assert booted(world) == 3, "no VM booted again for the job nobody of ours can run"
    assert left == [], "its VM went after its keep-alive instead of idling for the job"
    assert skips and skips[-1].jobs == 1 and gpu_job in skips[-1].detail
    assert still is not None and world.now - still.since < timedelta(hours=6)
