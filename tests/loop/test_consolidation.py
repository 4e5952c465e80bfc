"""Consolidation by attrition through the real loop and the simulated pool (depth-first, as the README
configures a pool): a burst ends, each VM is left with one long job on a quarter of its cores; the
planner drains the least-filled VMs while a VM's worth of free cores stays; their long jobs run to
their end undisturbed (nothing evicted), new work goes only to the VMs that stay, and each drained VM
is deleted once its last job is done."""

from __future__ import annotations

from sqlalchemy import select

from include.store.db import session_scope
from include.store.models import SimJob, Vm
from tests.loop.world import World, site


def vms(world: World) -> dict[str, Vm]:
    with session_scope(world.engine) as s:
        return {v.vm_id: v for v in s.scalars(select(Vm))}


def sim_jobs(world: World) -> dict[str, SimJob]:
    with session_scope(world.engine) as s:
        return {f"{j.cluster_id}.{j.proc_id}": j for j in s.scalars(select(SimJob))}


def test_partly_filled_vms_drain_without_losing_work(state_url):
    # a 900 s keep-alive: the long jobs, a few minutes old when the short ones end, are young next to it
    world = World.create(state_url, site(groups__0__vm_defaults__keep_alive=900))
    long_jobs = []
    for _ in range(4):  # four VMs, each: one long job and three short ones (2 of its 8 cores each)
        long_jobs += world.submit(1, cores=2, ram_mb=4000, duration_s=3000)
        world.submit(3, cores=2, ram_mb=4000, duration_s=300)
    world.run_until(lambda w: w.counts()["jobs"].get(2, 0) == 16, limit_s=600)
    assert len(vms(world)) == 4
    world.run_until(lambda w: any(v.retire_reason == "consolidate" for v in vms(w).values()), limit_s=900)
    world.run(60)
    drained = {i for i, v in vms(world).items() if v.retire_reason == "consolidate"}
    staying = set(vms(world)) - drained
    assert len(drained) == 2 and len(staying) == 2, "a VM's worth of free cores stays as the reserve"

    (late,) = world.submit(1, cores=2, ram_mb=4000, duration_s=600)
    world.run(90)
    machine_of = {k: j.machine for k, j in sim_jobs(world).items()}
    assert machine_of[late.split("#")[1]] in staying, "new work goes to a VM that stays"

    world.run_until(lambda w: not (drained & set(vms(w))), limit_s=3600)
    jobs = sim_jobs(world)
    assert sum(j.evictions for j in jobs.values()) == 0, "no running job was killed"
    for job_id in (g.split("#")[1] for g in long_jobs):
        job = jobs.get(job_id)
        assert job is None or job.status == 4, "each long job ran to its end (or left the queue done)"
