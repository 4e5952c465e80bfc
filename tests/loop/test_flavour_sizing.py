"""Flavour sizing where the project counts instances, through the real loop and a simulated cloud: a
site whose OpenStack project allows 2 instances and 32 cores, with a 2-core and an 8-core flavour and
no flavour named. Sixteen one-core jobs arrive. Two 2-core VMs would run four of them and leave twelve
waiting for good beside 28 unused cores; the planner boots two 8-core VMs and every job runs."""

from __future__ import annotations

import copy

from sqlalchemy import select

from include.store.db import session_scope
from include.store.models import Vm
from tests.loop.world import SITE, World, site

FLAVORS = [
    {"name": "s2", "cores": 2, "ram_mb": 8000, "disk_gb": 50.0},
    {"name": "c8", "cores": 8, "ram_mb": 32000, "disk_gb": 50.0},
]


def counted_project() -> dict:
    east = copy.deepcopy(SITE["groups"][0]["clouds"][0])
    east["simulation"] |= {"quota_cores": 32, "quota_instances": 2, "flavors": FLAVORS}
    return site(groups__0__clouds=[east])


def test_an_instance_quota_gets_vms_large_enough_for_the_jobs(state_url):
    world = World.create(state_url, counted_project())
    world.submit(16, cores=1, ram_mb=2000, duration_s=1200)
    world.run_until(lambda w: w.counts()["jobs"].get(2, 0) == 16, limit_s=600)
    with session_scope(world.engine) as s:
        booted = [(v.flavor, v.cores) for v in s.scalars(select(Vm))]
    assert booted == [("c8", 8), ("c8", 8)], "two VMs, the quota's count, each large enough for 8 jobs"
    assert not world.counts()["instances"].get("error"), "nothing was refused by the cloud"
