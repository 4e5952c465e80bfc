"""The loop under cloud and pool failures, on the simulated site: a cloud that is out of capacity, down,
or has a broken template never blocks the others and never makes us lose track of a VM."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from include.loop import cycle
from include.store.db import session_scope
from include.store.models import Backoff, BootRequest, SimInstance, Vm
from tests.loop.world import World, site


def alerts(tmp_path) -> list[dict]:
    sink = tmp_path / "alerts.jsonl"
    return [json.loads(line) for line in sink.read_text().splitlines()] if sink.exists() else []


def vm_clouds(world) -> list[str]:
    with session_scope(world.engine) as s:
        return sorted(v.cloud_name for v in s.scalars(select(Vm).where(Vm.status != "gone")))


def test_capacity_errors_back_the_cloud_off_then_disable_it_and_alert(state_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    doc = site(
        groups__0__clouds__0__simulation__failures={"capacity_error_rate": 1.0},
        groups__0__clouds__1__simulation__quota_cores=0,
    )  # west: no room, only east is a candidate
    doc["settings"].update(backoff_base=30, boot_failure_threshold=3)
    world = World.create(state_url, doc)
    world.submit(2)
    world.run(600)
    with session_scope(world.engine) as s:
        [backoff] = s.scalars(select(Backoff)).all()
        attempts = s.scalars(select(BootRequest)).all()
    assert (backoff.cloud_name, backoff.flavor, backoff.failures, backoff.disabled) == ("east", "c8", 3, True)
    assert "CapacityError" in backoff.last_error
    assert len(attempts) == 3, "growing back-off: three attempts in ten minutes, then none"
    gaps = sorted(b.created_at for b in attempts)
    assert gaps[2] - gaps[1] > gaps[1] - gaps[0], "each back-off longer than the last"
    assert vm_clouds(world) == [], "refused VMs are not counted as supply"
    [alert] = [a for a in alerts(tmp_path) if a["key"].startswith("boot_disabled:")]
    assert alert["key"] == "boot_disabled:atlas/east/c8"


def test_demand_moves_to_the_next_cloud_when_the_first_is_out_of_capacity(state_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    world = World.create(
        state_url, site(groups__0__clouds__0__simulation__failures={"capacity_error_rate": 1.0})
    )
    world.submit(2)
    world.run(120)
    assert vm_clouds(world) == ["west", "west"]


def test_a_cloud_that_is_down_is_frozen_not_emptied(world):
    world.submit(4)
    world.run_until(lambda w: w.counts()["machines"] >= 4, limit_s=300)
    before = {v for v in vm_clouds(world)}
    with session_scope(world.engine) as s:  # east's API stops answering
        from include.store.models import Cloud

        east = s.get(Cloud, ("atlas", "east"))
        east.simulation = {**east.simulation, "failures": {"down": True}}
    world.submit(4)
    world.run(300)
    with session_scope(world.engine) as s:
        east_vms = s.scalars(select(Vm).where(Vm.cloud_name == "east")).all()
        instances = s.scalars(select(SimInstance).where(SimInstance.cloud_name == "east")).all()
    assert before == {"east"}
    assert len(east_vms) == 4 and {v.status for v in east_vms} == {"active"}, "kept, not deleted or forgotten"
    assert {i.status for i in instances} == {"active"}
    assert vm_clouds(world).count("west") == 4, "the new demand went to the cloud that answers"


def test_a_broken_template_refuses_that_cloud_only(state_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    doc = site()
    # Validation renders it for a sample VM and passes; a real VM id takes the broken branch.
    broken = "x: {% if cs_vm_id != 'atlas-sample-1' %}{{ cs_no_such_var }}{% endif %}"
    doc["groups"][0]["clouds"][0]["metadata"] = [{"name": "bad.yaml.j2", "text": broken}]
    world = World.create(state_url, doc)
    world.submit(2)
    world.run(120)
    with session_scope(world.engine) as s:
        east = s.scalars(select(BootRequest).where(BootRequest.cloud_name == "east")).all()
        backoff = s.get(Backoff, ("atlas", "east", ""))
    assert east and {r.state for r in east} == {"failed"}
    assert "cs_no_such_var" in east[0].error
    assert backoff is not None and backoff.failures >= 1, "the cloud is backed off, not retried every cycle"
    assert vm_clouds(world) == ["west", "west"]


def test_vms_that_never_register_are_deleted_counted_and_alerted(state_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "alerts.jsonl"))
    doc = site(
        groups__0__clouds__0__simulation__failures={"never_register_rate": 1.0},
        groups__0__clouds__1__simulation__quota_cores=0,
    )
    doc["settings"].update(vm_come_alive=300)
    world = World.create(state_url, doc)
    world.submit(1)
    world.run(600)
    with session_scope(world.engine) as s:
        backoff = s.get(Backoff, ("atlas", "east", "c8"))
        instances = s.scalars(select(SimInstance)).all()
    assert backoff is not None and backoff.failures >= 1
    assert instances and all(i.status == "deleted" for i in instances[:1])
    assert any(a["key"] == "never_registered:atlas/east" for a in alerts(tmp_path))


def test_operator_kill_deletes_a_busy_vm_and_manual_vms_are_left_alone(world):
    world.submit(2, duration_s=3600)
    world.run_until(lambda w: w.counts()["jobs"].get(2) == 2, limit_s=300)
    with session_scope(world.engine) as s:
        from include.store.intents import request_vm_action

        a, b = sorted(s.scalars(select(Vm.vm_id)))
        request_vm_action(s, [a], "kill", "alice", world.now)
        request_vm_action(s, [b], "manctl", "alice", world.now)
        request_vm_action(s, [b], "kill", "alice", world.now)
    world.run(90)
    with session_scope(world.engine) as s:
        inst = {i.name: i.status for i in s.scalars(select(SimInstance))}
    assert inst[a] == "deleted", "kill deletes even with a running job"
    assert inst[b] == "active", "a manual VM is never deleted, even on a kill"


def test_stale_pool_means_no_boot_and_no_retire(world):
    from include.simulated.pool import set_outage

    world.submit(2, duration_s=30)
    world.run_until(lambda w: w.counts()["jobs"].get(4) == 2, limit_s=600)
    set_outage(world.engine, "simulated", ["collector", "schedd:*"])
    world.submit(3)
    world.now += timedelta(seconds=600)
    for _ in range(4):
        world.now += timedelta(seconds=30)
        record = world.cycle()
        assert record["plan"]["summary"]["vms_booted"] == 0
        assert record["plan"]["summary"]["retires"] == {} and record["plan"]["summary"]["deletes"] == {}
    assert "pool_stale" in record["plan"]["summary"]["skips"]
    assert len(vm_clouds(world)) == 2, "idle VMs past keep-alive are kept while the pool cannot be seen"


def test_dry_run_reports_without_acting(world):
    world.submit(3)
    world.now += timedelta(seconds=30)
    cycle.poll_pools(world.now)
    for c in cycle.clouds_to_poll():
        cycle.poll_cloud(c["group"], c["cloud"], world.now)
    report, summary = cycle.dry_run_report(world.now)
    assert "BOOT    atlas/east: 3 x c8 (cvm) for 3 job(s)" in report
    assert summary["summary"]["vms_booted"] == 3
    assert world.counts()["vms"] == {}, "a dry run records no intent"
