"""The page's VM states are the planner's: for any mix of cloud status, operator flags and startd
slots, ``vm_rows`` gives exactly what ``vm_state`` gives for the same facts."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy.orm import Session

from include.scheduler.states import VmStatus, vm_state
from include.status.vms import state_counts, vm_rows
from include.store.models import Machine, Vm
from tests.status import builders as b
from tests.status.builders import NOW

SLOT = st.tuples(
    st.sampled_from(["Partitionable", "Dynamic", "Static"]),
    st.sampled_from(["Unclaimed", "Claimed", "Matched", "Preempting", "Owner", "Drained"]),
    st.booleans(),
    st.integers(0, 16),
)
VM = st.tuples(
    st.sampled_from([s.value for s in VmStatus if s != VmStatus.GONE]),
    st.booleans(),
    st.booleans(),
    st.lists(SLOT, max_size=4),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(vms=st.lists(VM, min_size=1, max_size=8))
def test_state_matches_the_planners_function(store_engine, vms):
    with Session(store_engine) as s:
        s.execute(delete(Machine))
        s.execute(delete(Vm))
        if s.get(b.Group, "g") is None:
            b.group(s, "g")
            b.cloud(s, "g", "c")
        expected = {}
        for i, (status, manual, retire_requested, slots) in enumerate(vms):
            vm_id = f"v{i}"
            s.add(
                Vm(
                    vm_id=vm_id,
                    group_name="g",
                    cloud_name="c",
                    status=status,
                    manual=manual,
                    retire_requested_at=NOW if retire_requested else None,
                    requested_at=NOW,
                )
            )
            for slot_type, state, retiring, cores in slots:
                m = b.slot(s, vm_id, "g", "c", slot_type, cores=cores, state=state)
                m.retiring = retiring
            busy = any(st_ in ("Claimed", "Matched", "Preempting") for _, st_, _, _ in slots)
            expected[vm_id] = vm_state(
                status=status,
                manual=manual,
                retiring=retire_requested or any(r for _, _, r, _ in slots),
                registered=bool(slots),
                busy=busy,
            )
        s.commit()
        assert {r.vm_id: r.state for r in vm_rows(s, ["g"])} == expected
        counted = {n.state: n.vms for n in state_counts(s, ["g"])}
        assert counted == {st: list(expected.values()).count(st) for st in set(expected.values())}


def test_detail_columns_filters_and_age(session):
    b.group(session, "g")
    b.cloud(session, "g", "c")
    b.cloud(session, "g", "d")
    v = b.vm_row(session, "g", "c", state="running", ips=["10.0.0.5"], error=None)
    b.vm_row(session, "g", "d", state="starting")
    session.commit()
    rows = vm_rows(session, ["g"], cloud="c", detail=True)
    assert [r.vm_id for r in rows] == [v.vm_id]
    row = rows[0]
    assert row.ips == ("10.0.0.5",) and row.busy_slots == 1 and row.slots == 1
    assert row.age_s(NOW) == timedelta(minutes=10).total_seconds()  # since the last slot change
    assert [r.state.value for r in vm_rows(session, ["g"], vm_ids=[v.vm_id])] == ["running"]


def test_slot_rules_are_the_planners():
    from include.scheduler import fleet
    from include.status import vms

    assert vms.CLAIMED_STATES == fleet.CLAIMED_STATES and vms.FREE_SLOT_TYPES == fleet.FREE_SLOT_TYPES


def test_age_prefers_the_loops_last_slot_change(session):
    b.group(session, "g")
    b.cloud(session, "g", "c")
    v = b.vm_row(session, "g", "c", state="idle", slots_changed_at=NOW - timedelta(minutes=42))
    session.commit()
    (row,) = vm_rows(session, ["g"], vm_ids=[v.vm_id])
    assert row.age_s(NOW) == 42 * 60


def test_the_vm_list_says_who_drains_a_vm(session):
    """A VM we drain for a waiting multi-core job is `retiring` by state; the list says whose drain it is,
    so an operator does not read it as a retire (ours, condor_defrag's or an admin's)."""
    b.group(session, "g")
    b.cloud(session, "g", "c")
    drained = b.vm_row(session, "g", "c", state="running")
    plain = b.vm_row(session, "g", "c", state="running")
    pslot = b.slot(session, drained.vm_id, "g", "c", "Partitionable", cores=2, total_cores=8, state="Drained")
    pslot.retiring, pslot.drain_reason = True, "cloudscheduler: room for 8-core jobs"
    session.commit()
    rows = {r.vm_id: r for r in vm_rows(session, ["g"], detail=True)}
    assert rows[drained.vm_id].drain_reason == "cloudscheduler: room for 8-core jobs"
    assert rows[drained.vm_id].state.value == "retiring" and rows[plain.vm_id].drain_reason is None
