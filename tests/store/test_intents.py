"""Operator intents are recorded on the rows, audited, and refused as a whole when they name nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from include.store.intents import IntentError, request_cloud_action, request_vm_action
from include.store.models import AuditEntry, Backoff, Cloud, Group, Vm

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(session):
    session.add(Group(name="atlas"))
    session.flush()
    session.add(Cloud(group_name="atlas", name="east", cloud_type="simulated"))
    session.flush()
    session.add_all([Vm(vm_id=f"v{i}", group_name="atlas", cloud_name="east") for i in range(3)])
    session.add(Backoff(group_name="atlas", cloud_name="east", flavor="m1", failures=3, disabled=True))
    session.commit()
    return session


def test_vm_actions_set_targets_and_audit(world):
    request_vm_action(world, ["v0", "v1"], "retire", "alice", NOW)
    request_vm_action(world, ["v2"], "kill", "bob", NOW)
    request_vm_action(world, ["v1"], "manctl", "alice", NOW)
    world.commit()
    vms = {v.vm_id: v for v in world.scalars(select(Vm))}
    assert vms["v0"].retire_requested_at == NOW and vms["v0"].retire_reason == "operator"
    assert vms["v2"].kill_requested_at == NOW
    assert vms["v1"].manual is True
    actions = [
        (a.actor, a.action, a.object_key) for a in world.scalars(select(AuditEntry).order_by(AuditEntry.id))
    ]
    assert actions == [
        ("alice", "vm.retire", "v0"),
        ("alice", "vm.retire", "v1"),
        ("bob", "vm.kill", "v2"),
        ("alice", "vm.manctl", "v1"),
    ]


def test_unknown_vm_refuses_the_whole_request(world):
    with pytest.raises(IntentError, match="no such VM: nope"):
        request_vm_action(world, ["v0", "nope"], "retire", "alice", NOW)
    world.rollback()
    assert world.get(Vm, "v0").retire_requested_at is None


def test_vm_of_another_group_is_refused(world):
    with pytest.raises(IntentError, match="no such VM: v0"):
        request_vm_action(world, ["v0"], "kill", "mallory", NOW, group="belle2")


def test_cloud_drain_pause_enable(world):
    request_cloud_action(world, "atlas", "east", "drain", "alice", NOW)
    request_cloud_action(world, "atlas", "east", "pause", "alice", NOW)
    cloud = world.get(Cloud, ("atlas", "east"))
    assert (cloud.enabled, cloud.paused) == (False, True)
    request_cloud_action(world, "atlas", "east", "enable", "alice", NOW)
    world.commit()
    world.expire_all()
    assert (cloud.enabled, cloud.paused) == (True, False)
    backoff = world.scalars(select(Backoff)).one()
    assert (backoff.disabled, backoff.failures) == (False, 0)
    with pytest.raises(IntentError, match="no such cloud: atlas/west"):
        request_cloud_action(world, "atlas", "west", "drain", "alice", NOW)
    with pytest.raises(IntentError, match="unknown cloud action"):
        request_cloud_action(world, "atlas", "east", "explode", "alice", NOW)
