"""The whole workflow (README: "The demo, step by step") on the simulated pool and clouds, through the real loop
functions the DAG tasks call: idle jobs -> boot -> register -> run -> retire after keep-alive ->
delete once the startd left -> the VM leaves our table."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from include.loop import cycle
from include.store.db import session_scope
from include.store.models import BootRequest, Machine, PlanSkip, SimInstance, TimeseriesSample, Vm


def vms(world) -> list[Vm]:
    with session_scope(world.engine) as s:
        return list(s.scalars(select(Vm).order_by(Vm.vm_id)))


def test_whole_workflow_stage_by_stage(world):
    world.submit(6, cores=8, ram_mb=16000, duration_s=300)
    # Stage 1: idle demand is planned and recorded as intents before any cloud call.
    world.cycle()
    first = world.log[-1]
    assert first["plan"]["summary"]["vms_booted"] == 6
    with session_scope(world.engine) as s:
        requests = s.scalars(select(BootRequest)).all()
        assert {(r.cloud_name, r.count, r.state) for r in requests} == {
            ("east", 4, "done"),
            ("west", 2, "done"),
        }
    # East's quota is 32 cores = 4 VMs of 8: the other 2 go to the next cloud by priority.
    assert sorted(v.cloud_name for v in vms(world)) == ["east"] * 4 + ["west"] * 2
    assert all(v.cloud_vm_id for v in vms(world)), "every create recorded its cloud id"

    # Stage 2: the VMs boot (40 s) and their startds register (15 s later), advertising cs_vm_id.
    world.run_until(lambda w: w.counts()["machines"] >= 6, limit_s=300)
    with session_scope(world.engine) as s:
        joined = set(s.scalars(select(Machine.vm_id).where(Machine.vm_id.is_not(None))))
    assert joined == {v.vm_id for v in vms(world)}
    assert {v.status for v in vms(world)} == {"active"}

    # Stage 3: the negotiator matches the jobs; they run.
    world.run_until(lambda w: w.counts()["jobs"].get(2) == 6, limit_s=300)
    assert not any(r["plan"]["summary"]["vms_booted"] for r in world.log[1:]), (
        "no second boot for the same jobs"
    )

    # Stage 4: jobs finish; VMs idle past keep-alive (120 s) are retired through the pool...
    done = world.run_until(lambda w: w.counts()["jobs"].get(2, 0) == 0, limit_s=600)
    retired_at = world.run_until(lambda w: any(v.retire_sent_at for v in vms(w)), limit_s=600)
    assert retired_at - done >= timedelta(seconds=120 - 30)
    assert {v.retire_reason for v in vms(world) if v.retire_sent_at} == {"keep_alive"}

    # Stage 5: ...their startds leave, then they are deleted from the cloud and leave our table.
    world.run_until(lambda w: w.counts()["machines"] == 0, limit_s=300)
    world.run_until(lambda w: not vms(w), limit_s=600)
    with session_scope(world.engine) as s:
        assert {i.status for i in s.scalars(select(SimInstance))} == {"deleted"}
        samples = s.scalars(select(TimeseriesSample).where(TimeseriesSample.cloud_name == "")).all()
    assert max(t.VMs_running for t in samples) == 6
    assert max(t.jobs_running for t in samples) == 6
    assert samples[-1].VMs == 0


def test_unserved_demand_carries_reasons(world):
    world.submit(2, cores=64, ram_mb=1000)  # no flavour has 64 cores
    world.cycle()
    with session_scope(world.engine) as s:
        skips = [(k.reason, k.jobs) for k in s.scalars(select(PlanSkip))]
    assert ("no_flavor_fits", 2) in skips
    assert world.counts()["vms"] == {}


def test_killed_boot_task_after_the_cloud_accepted_retries_into_one_vm(world):
    """The act task dies between the cloud accepting the create and recording it; the retry (a new
    task try, then the next cycle) finds the VMs already made: exactly one VM per id."""
    from include.loop.act import build_spec

    world.submit(2, cores=8, ram_mb=16000)
    world.now += timedelta(seconds=30)
    cycle.poll_pools(world.now)
    for c in cycle.clouds_to_poll():
        cycle.poll_cloud(c["group"], c["cloud"], world.now)
    plan = cycle.plan_cycle(now=world.now)
    [work] = plan["clouds"]
    # The first try: the cloud accepts the create, then the worker dies before anything is recorded.
    adapter, _ = cycle.cloud_adapter(work["group"], work["cloud"], world.engine, world.now)
    with session_scope(world.engine) as s:
        request = s.scalars(select(BootRequest)).one()
        made = adapter.create_vms(build_spec(s, request, cycle.settings_now()), request.count)
    assert all(r.ok and not r.existed for r in made)
    # Airflow retries the task: same work, same request id.
    outcome = cycle.act_cloud(work, world.now)
    assert sorted(outcome["existed"]) == sorted(r.vm_id for r in made) and outcome["created"] == []
    cycle.release_run(plan["lease"])
    world.cycle()  # and the next cycle plans nothing more for these jobs
    with session_scope(world.engine) as s:
        instances = s.scalars(select(SimInstance)).all()
        assert sorted(i.name for i in instances) == sorted(r.vm_id for r in made)
        assert {v.cloud_vm_id for v in s.scalars(select(Vm))} == {i.instance_id for i in instances}


def test_recording_the_same_plan_twice_writes_one_intent(world):
    from include.loop.record import record_plan
    from include.loop.snapshot import load_snapshot
    from include.scheduler import Policy, plan

    world.submit(3)
    world.now += timedelta(seconds=30)
    cycle.poll_pools(world.now)
    for c in cycle.clouds_to_poll():
        cycle.poll_cloud(c["group"], c["cloud"], world.now)
    settings = cycle.settings_now()
    with session_scope(world.engine) as s:
        result = plan(load_snapshot(s, world.now, settings), Policy.from_settings(settings), world.now)
    for _ in range(2):
        with session_scope(world.engine) as s:
            record_plan(s, result, world.now, settings)
    with session_scope(world.engine) as s:
        assert len(s.scalars(select(Vm)).all()) == sum(b.count for b in result.boots) == 3


def test_the_pool_token_of_the_groups_connection_reaches_the_vm_and_never_our_tables(state_url, monkeypatch):
    """A real VM needs a credential to join the pool: the template's ``cs_condor_token`` comes from the
    group's Connection at boot time (without one it renders empty, as in the original, so templates
    written for csv2 still render)."""
    import json

    from tests.loop.world import SITE, World, site

    template = SITE["groups"][0]["metadata"][0]["text"] + '    pool_token = "{{ cs_condor_token }}"\n'
    world = World.create(state_url, site(groups__0__metadata__0__text=template))
    world.submit(1, cores=8, ram_mb=16000)
    world.cycle()
    conn = {"conn_type": "generic", "password": "idtoken-s3cret"}
    monkeypatch.setenv("AIRFLOW_CONN_CS_CONDOR_ATLAS", json.dumps(conn))
    world.submit(1, cores=8, ram_mb=16000)
    world.run(60)
    with session_scope(world.engine) as s:
        tokens = sorted(i.startd_attrs["pool_token"] for i in s.scalars(select(SimInstance)))
        stored = [repr(vars(r)) for model in (BootRequest, Vm) for r in s.scalars(select(model))]
    assert tokens == ["", "idtoken-s3cret"]
    assert not any("idtoken-s3cret" in row for row in stored)
