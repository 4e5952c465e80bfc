"""The status tables count what the store holds: VMs by derived state, slots, cores and RAM against
control and quota, jobs per alias, foreign usage, back-offs, freshness and unserved demand."""

from __future__ import annotations

from datetime import timedelta

import pytest

from include.status.freshness import Light
from include.status.tables import group_status
from tests.status import builders as b
from tests.status.builders import NOW


@pytest.fixture
def world(session):
    b.group(session, "atlas", collector="cm.atlas.org", pool_kind="htcondor")
    b.group(session, "belle2")
    b.cloud(session, "atlas", "east", priority=1, cores_ctl=64, ram_ctl=200000)
    b.cloud(session, "atlas", "west", priority=0, cores_softmax=40)
    b.cloud(session, "belle2", "mel")
    for state, n in (
        ("running", 3),
        ("idle", 2),
        ("starting", 1),
        ("unregistered", 1),
        ("retiring", 1),
        ("manual", 1),
        ("error", 1),
    ):
        for _ in range(n):
            b.vm_row(session, "atlas", "east", state=state)
    b.vm_row(session, "atlas", "east", state="running", status="gone")  # gone: not shown
    b.vm_row(session, "atlas", "west", state="idle", cores=4, ram_mb=8000)
    b.vm_row(session, "belle2", "mel", state="running")
    b.limits(
        session,
        "atlas",
        "east",
        cores_max=120,
        ram_max_mb=500000,
        foreign_vms=2,
        foreign_cores=16,
        foreign_ram_mb=32000,
        volume_gb_used=30,
        volume_gb_max=1000,
    )
    b.limits(session, "atlas", "west", cores_max=100, foreign_cores=10)
    b.jobs(session, "atlas", 5, status=1, cores=8)
    b.jobs(session, "atlas", 2, status=1, cores=1, alias="ca")
    b.jobs(session, "atlas", 3, status=2, alias="ca")
    b.jobs(session, "atlas", 1, status=5)
    b.jobs(session, "atlas", 1, status=4)
    b.jobs(session, "atlas", 1, status=3)
    b.jobs(session, None, 4, pool="cm.atlas.org")  # foreign, in atlas's pool
    b.jobs(session, None, 9, pool="elsewhere")
    b.jobs(session, None, 2, pool="simulated")  # belle2's simulated pool
    b.backoff(session, "atlas", "east", "c16", failures=2, until=NOW + timedelta(minutes=5), error="quota")
    b.backoff(session, "atlas", "east", "c32", failures=3, disabled=True)
    b.backoff(session, "atlas", "east", "c8", failures=1, until=NOW - timedelta(minutes=5))
    b.poll(session, "condor/atlas/pool")
    b.poll(session, "cloud/atlas/east", age_s=30)
    b.poll(session, "cloud/atlas/west", ok=False, age_s=400, error="timeout")
    b.plan_run(session, "atlas", [("quota", "east", 7)], at=NOW - timedelta(minutes=5))
    b.plan_run(session, "atlas", [("quota", "east", 4), ("quota", "east", 2), ("no_flavor_fits", None, 3)])
    b.plan_run(session, "atlas", [("backoff", "west", 99)], dry_run=True, at=NOW + timedelta(seconds=1))
    session.commit()
    return session


def test_clouds_table_counts_vms_by_state_and_resources(world):
    atlas, belle2 = group_status(world, ["atlas", "belle2", "nosuch"], NOW)
    assert [c.name for c in atlas.clouds] == ["west", "east"]  # by priority
    east = atlas.clouds[1]
    assert east.vms == {
        "starting": 1,
        "unregistered": 1,
        "idle": 2,
        "running": 3,
        "retiring": 1,
        "manual": 1,
        "error": 1,
    }
    assert east.vms_total == 10
    assert east.cores_used == 80 and east.ram_used == 160000
    # running VMs: one busy dynamic slot of 8 cores each; idle, retiring, manual: 8 idle cores each
    assert (east.slots, east.busy_cores, east.idle_cores) == (3, 24, 32)
    assert (east.cores_ctl, east.cores_quota, east.cores_limit) == (64, 120, 64)
    assert (east.ram_ctl, east.ram_quota, east.ram_limit) == (200000, 500000, 200000)
    assert (east.foreign_vms, east.foreign_cores, east.foreign_ram) == (2, 16, 32000)
    assert (east.volume_gb_used, east.volume_gb_max) == (30, 1000)
    west = atlas.clouds[0]
    assert west.cores_limit == 30  # min(softmax 40 - foreign 10, quota 100 - foreign 10)
    assert belle2.clouds[0].vms["running"] == 1


def test_group_total_sums_clouds_and_limits_only_where_all_set(world):
    atlas = group_status(world, ["atlas"], NOW)[0]
    assert atlas.total.vms_total == 11 and atlas.total.cores_used == 84
    assert atlas.total.cores_limit == 94 and atlas.total.cores_quota == 220
    assert atlas.total.cores_ctl == -1  # west sets none


def test_jobs_table_per_alias_with_foreign_jobs_of_the_pool(world):
    atlas = group_status(world, ["atlas"], NOW)[0]
    total, ca = atlas.jobs
    assert (total.total, total.idle, total.running, total.completed, total.held, total.other) == (
        13,
        7,
        3,
        1,
        1,
        1,
    )
    assert total.idle_by_cores == {8: 5, 1: 2}
    assert (ca.alias, ca.total, ca.idle, ca.running) == ("ca", 5, 2, 3)
    assert atlas.foreign_jobs == 4
    assert group_status(world, ["belle2"], NOW)[0].foreign_jobs == 2


def test_backoffs_freshness_and_latest_real_run_skips(world):
    atlas = group_status(world, ["atlas"], NOW)[0]
    east = atlas.clouds[1]
    assert east.backoff.failures == 6 and east.backoff.disabled == ["c32"]
    assert [f for f, _ in east.backoff.backing_off] == ["c16"]
    assert east.freshness.light == Light.OK
    assert atlas.clouds[0].freshness.light == Light.DOWN  # 400 s > stale_after 180
    sources = [(f.source, f.light) for f in atlas.freshness]
    assert sources == [
        ("condor/atlas/pool", Light.OK),
        ("cloud/atlas/east", Light.OK),
        ("cloud/atlas/west", Light.DOWN),
        ("schedule/atlas", Light.OK),
    ]
    assert [(s.reason, s.cloud_name, s.jobs, s.shapes) for s in atlas.unserved] == [
        ("quota", "east", 6, 2),
        ("no_flavor_fits", None, 3, 1),
    ]
    assert east.unserved_jobs == 6
    assert atlas.planned_at == NOW


def test_empty_group_and_stale_schedule(session):
    b.group(session, "lonely")
    b.poll(session, "cloud/lonely/x", ok=False, age_s=60)
    session.commit()
    g = group_status(session, ["lonely"], NOW)[0]
    assert g.clouds == [] and g.total.vms_total == 0 and g.jobs[0].total == 0
    assert [f.light for f in g.freshness] == [Light.WARN, Light.NEVER]
