"""A multi-core job at a full site, through the real loop and the simulated pool: the group's project has
room for two 16-core VMs, 1-core jobs keep coming, and each core that frees goes to the next of them, so
an 8-core job waits for good. With the shipped settings the planner drains the VM nearest to 8 free
cores once the job has waited half an hour, cancels the drain when 8 cores are free (half its jobs still
running), and the job starts on that VM; no running job is killed."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from include.store.db import session_scope
from include.store.models import Machine, SimJob
from tests.loop.world import SITE, World, site

EAST = {**SITE["groups"][0]["clouds"][0]}
EAST["simulation"] = {
    **EAST["simulation"],
    "quota_cores": 32,  # two 16-core VMs
    "flavors": [{"name": "c16", "cores": 16, "ram_mb": 64000, "disk_gb": 50.0}],
}


def sim_jobs(world: World) -> list[SimJob]:
    with session_scope(world.engine) as s:
        return list(s.scalars(select(SimJob)))


@pytest.mark.parametrize("room_drain_after", [None, 0], ids=["shipped", "turned-off"])
def test_an_eight_core_job_starts_at_a_full_site_through_our_drain(state_url, room_drain_after):
    settings = {"max_boot_per_cycle": 5}
    if room_drain_after is not None:
        settings["room_drain_after"] = room_drain_after
    world = World.create(state_url, site(groups__0__clouds=[EAST], settings=settings))
    for i in range(32):  # fill both VMs with 1-core jobs that end one by one
        world.submit(1, cores=1, ram_mb=2000, duration_s=900 + 50 * i)
    world.run_until(lambda w: sum(j.status == 2 for j in sim_jobs(w)) == 32, limit_s=600)
    (multi,) = world.submit(1, cores=8, ram_mb=16000, duration_s=600)
    multi_id = int(multi.split("#")[1].split(".")[0])
    drains, undrains = [], []
    # 1-core backfill every 60 s for 75 minutes (past the bound asserted below), faster than cores free
    for _ in range(75):
        world.submit(2, cores=1, ram_mb=2000, duration_s=2000)
        world.run(60)
        for record in world.log[-2:]:
            for p in record["pools"]:
                drains += p.get("drained", [])
                undrains += p.get("undrained", [])
        job = next(j for j in sim_jobs(world) if j.cluster_id == multi_id)
        if job.started_at is not None:
            break
    jobs = sim_jobs(world)
    assert sum(j.evictions for j in jobs) == 0, "no running job was killed"
    if room_drain_after == 0:
        assert job.started_at is None and drains == [], "starved behind the 1-core backfill"
        return
    assert job.started_at is not None, "the 8-core job started"
    waited = (job.started_at - job.q_date).total_seconds()
    assert 1800 <= waited <= 1800 + 2400, waited  # drained after 30 min; 8 of its jobs end within 2,400 s
    assert len(set(drains)) == 1 and set(undrains) == set(drains), "one VM drained, then resumed"
    with session_scope(world.engine) as s:
        (vm_id,) = set(drains)
        host = s.scalar(select(Machine.machine).where(Machine.vm_id == vm_id).limit(1))
        neighbours = s.scalars(select(SimJob).where(SimJob.machine == host, SimJob.status == 2)).all()
    assert job.machine == host, "it started on the drained VM"
    assert len(neighbours) > 1, "the drain ended with 1-core jobs still running there"
