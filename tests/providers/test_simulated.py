"""The simulated cloud: wall-clock boot, injected failures, startd attributes from the user-data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from include.providers.base import TransientError, VmSpec, VmStatus
from include.simulated.cloud import SimulatedCloud
from include.store.db import session_scope
from include.store.models import SimInstance
from include.userdata.builder import MetadataPart, UserDataBuilder

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SIM = {"boot_delay_s": 60, "flavors": [{"name": "m1", "cores": 2, "ram_mb": 4000}], "images": ["img"]}


class Clock:
    def __init__(self):
        self.now = T0

    def __call__(self):
        return self.now


def cloud(engine, clock, **sim):
    return SimulatedCloud("c1", "g1", engine, {**SIM, **sim}, clock=clock)


def spec(rid="r1", user_data=None):
    return VmSpec(group="g1", cloud="c1", request_id=rid, flavor="m1", image="img", user_data=user_data)


def test_vms_build_for_the_boot_delay_then_become_active(sqlite_engine):
    clock = Clock()
    sim = cloud(sqlite_engine, clock)
    sim.create_vms(spec(), 2)
    assert {v.status for v in sim.list_vms()} == {VmStatus.BUILDING}
    clock.now = T0 + timedelta(seconds=59)
    assert {v.status for v in sim.list_vms()} == {VmStatus.BUILDING}
    clock.now = T0 + timedelta(seconds=60)
    assert {v.status for v in sim.list_vms()} == {VmStatus.ACTIVE}
    with session_scope(sqlite_engine) as s:  # persisted for the simulated pool
        assert set(s.scalars(select(SimInstance.status))) == {"active"}


def test_error_state_and_never_register_are_drawn_per_vm_and_stable(sqlite_engine):
    clock = Clock()
    sim = cloud(
        sqlite_engine, clock, boot_delay_s=0, failures={"error_state_rate": 1.0, "never_register_rate": 1.0}
    )
    sim.create_vms(spec(), 1)
    (vm,) = sim.list_vms()
    assert vm.status == VmStatus.ERROR and "failed to spawn" in vm.error
    with session_scope(sqlite_engine) as s:
        assert s.scalars(select(SimInstance.never_register)).one()


def test_down_cloud_fails_every_call(sqlite_engine):
    sim = cloud(sqlite_engine, Clock(), failures={"down": True})
    for call in (sim.list_vms, sim.flavors, sim.limits, lambda: sim.create_vms(spec(), 1)):
        with pytest.raises(TransientError):
            call()


def test_template_without_cs_vm_id_yields_a_vm_that_cannot_join(sqlite_engine):
    good = UserDataBuilder(
        "c1", [MetadataPart("c.yaml.j2", 'cs_vm_id = "{{ cs_vm_id }}"\ngroup_name = "g1"')], {}
    )
    forgetful = UserDataBuilder("c1", [MetadataPart("c.yaml.j2", 'group_name = "g1"')], {})
    sim = cloud(sqlite_engine, Clock())
    sim.create_vms(spec("a", good), 1)
    sim.create_vms(spec("b", forgetful), 1)
    with session_scope(sqlite_engine) as s:
        attrs = dict(s.execute(select(SimInstance.name, SimInstance.startd_attrs)).all())
    assert attrs == {"a-1": {"cs_vm_id": "a-1", "group_name": "g1"}, "b-1": {"group_name": "g1"}}


def test_cores_quota_and_limits(sqlite_engine):
    sim = cloud(sqlite_engine, Clock(), quota_cores=5)
    results = sim.create_vms(spec(), 3)
    assert [r.ok for r in results] == [True, True, False] and "cores" in str(results[2].error)
    limits = sim.limits()
    assert (limits.cores_max, limits.cores_used, limits.instances_used) == (5, 4, 2)
