"""What a cycle learns when startds join: each VM's registration and first job, and that a flavour whose
VMs register works again (its boot failures cleared). Written for a burst: many VMs in one cycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from include.loop.sync import sync_vm_history
from include.store.models import Backoff, Group, Machine, Vm

pytestmark = pytest.mark.postgres

T = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _site(session, vms: int) -> None:
    session.add(Group(name="atlas", pool_kind="htcondor", collector="cm"))
    session.flush()
    for flavor in ("c8", ""):
        session.add(
            Backoff(
                group_name="atlas",
                cloud_name="east",
                flavor=flavor,
                failures=3,
                until=T + timedelta(hours=1),
                disabled=flavor == "c8",
                last_error="No valid host",
            )
        )
    for i in range(vms):
        session.add(
            Vm(
                vm_id=f"vm-{i:04d}",
                group_name="atlas",
                cloud_name="east",
                flavor="c8",
                cores=8,
                status="starting",
                requested_at=T - timedelta(minutes=10) + timedelta(seconds=i),
            )
        )
    session.flush()


def _slot(vm: int, name: str, state: str, at: datetime) -> Machine:
    return Machine(
        pool="cm",
        name=f"{name}@vm-{vm:04d}",
        machine=f"vm-{vm:04d}",
        vm_id=f"vm-{vm:04d}",
        group_name="atlas",
        cloud_name="east",
        slot_type="Partitionable" if name == "slot1" else "Dynamic",
        state=state,
        entered_state_at=at,
    )


def test_a_burst_of_registrations_is_recorded_per_vm_and_clears_the_flavours_back_off(session):
    _site(session, 1200)
    for i in range(1000):  # 1,000 of 1,200 registered; the first 300 also run a job
        session.add(_slot(i, "slot1", "Unclaimed", T - timedelta(seconds=90)))
        if i < 300:
            session.add(_slot(i, "slot1_1", "Claimed", T - timedelta(seconds=30)))
    session.flush()

    changed = sync_vm_history(session, T, ["atlas"])

    assert changed == 1000
    rows = {v.vm_id: v for v in session.scalars(select(Vm))}
    assert all(rows[f"vm-{i:04d}"].registered_at == T - timedelta(seconds=90) for i in range(1000))
    assert all(rows[f"vm-{i:04d}"].registered_at is None for i in range(1000, 1200))
    assert {i for i in range(1200) if rows[f"vm-{i:04d}"].first_job_at} == set(range(300))
    assert rows["vm-0000"].first_job_at == T - timedelta(seconds=30)
    assert rows["vm-0000"].slot_signature != rows["vm-0500"].slot_signature
    for backoff in session.scalars(select(Backoff)):
        # The latest of the registered boots is the proof the flavour (and the cloud) works again.
        assert (backoff.failures, backoff.until, backoff.disabled) == (0, None, False), backoff.flavor
        assert backoff.last_success_vm == "vm-0999"
        assert backoff.last_success_at == T - timedelta(minutes=10) + timedelta(seconds=999)

    assert sync_vm_history(session, T + timedelta(seconds=15), ["atlas"]) == 0, "nothing new: nothing written"
