"""Our VMs as the status page sees them: each VM's cloud record joined with its startd slots, and its
derived lifecycle state, so the page and the planner never disagree about what a VM is doing.

Two forms of the same rule: ``vm_rows`` (the VM list) derives each state in Python with
:func:`include.scheduler.states.vm_state`, the planner's own function; ``state_counts`` (the status
tables) counts VMs per cloud and state in one SQL statement with :func:`state_expression`, a CASE
that a property test keeps equal to ``vm_state`` on both databases. Slots are aggregated per VM in SQL
(one GROUP BY over ``machines``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, and_, case, func, or_, select
from sqlalchemy.orm import Session

from include.scheduler.states import VmState, VmStatus, vm_state
from include.store.models import Machine, Vm

JOB_SLOT_TYPES = ("Dynamic", "Static")  # slots that run a job; a partitionable slot is the VM's remainder
# The planner's rules (include/scheduler/fleet.py): a claimed, matched or preempting slot holds work;
# an unclaimed partitionable or static slot's cores are free.
CLAIMED_STATES = ("Claimed", "Matched", "Preempting")
FREE_SLOT_TYPES = ("Partitionable", "Static")


def busy_slot():
    return Machine.state.in_(CLAIMED_STATES)


def free_slot():
    return and_(Machine.slot_type.in_(FREE_SLOT_TYPES), Machine.state == "Unclaimed")


def _flag(condition) -> object:
    return func.max(case((condition, 1), else_=0))


def _count(condition) -> object:
    return func.sum(case((condition, 1), else_=0))


def _sum(condition, column) -> object:
    return func.sum(case((condition, column), else_=0))


def slot_summary():
    """Per VM id: slots, busy slots, slot cores, busy cores, idle cores, retiring flag, last change."""
    busy = busy_slot()
    job_slot = Machine.slot_type.in_(JOB_SLOT_TYPES)
    return (
        select(
            Machine.vm_id.label("vm_id"),
            func.count().label("ads"),
            _count(job_slot).label("slots"),
            _count(busy).label("busy_slots"),
            # A VM's cores: a partitionable slot advertises its total; static slots add up.
            _sum(
                Machine.slot_type != "Dynamic",
                func.coalesce(func.nullif(Machine.total_cores, 0), Machine.cores),
            ).label("slot_cores"),
            _sum(busy, Machine.cores).label("busy_cores"),
            _sum(free_slot(), Machine.cores).label("idle_cores"),
            _flag(Machine.retiring.is_(True)).label("retiring"),
            func.max(Machine.drain_reason).label("drain_reason"),  # one startd per VM: one reason
            func.max(Machine.entered_state_at).label("slot_changed_at"),
        )
        .where(Machine.vm_id.is_not(None))
        .group_by(Machine.vm_id)
        .subquery("slots")
    )


@dataclass(frozen=True)
class VmRow:
    vm_id: str
    group_name: str
    cloud_name: str
    state: VmState
    status: str
    cloud_status: str | None
    flavor: str | None
    cores: int
    ram_mb: int
    ips: tuple[str, ...]
    slots: int
    busy_slots: int
    slot_cores: int
    busy_cores: int
    idle_cores: int
    manual: bool
    error: str | None
    retire_requested_at: datetime | None
    retire_count: int
    kill_requested_at: datetime | None
    adopted_from: str | None  # "csv2": booted by cloudscheduler v2, adopted at the import
    drain_reason: (
        str | None
    )  # who drains its startd: ours ("cloudscheduler: ..."), condor_defrag's, an admin's
    since: datetime | None  # last slot change (csv2's "age"), else last status change, else boot request

    def age_s(self, now: datetime) -> float | None:
        return None if self.since is None else max(0.0, (now - self.since).total_seconds())


def vm_rows(
    session: Session,
    groups: Iterable[str],
    cloud: str | None = None,
    detail: bool = False,
    vm_ids: Iterable[str] | None = None,
) -> list[VmRow]:
    """The VMs of ``groups`` (optionally one cloud or some ids) with their derived state; gone VMs are left
    out. ``detail`` also reads the columns only the VM list shows (ips, errors, request times)."""
    s = slot_summary()
    cols = [
        Vm.vm_id,
        Vm.group_name,
        Vm.cloud_name,
        Vm.status,
        Vm.manual,
        Vm.retire_requested_at,
        Vm.cores,
        Vm.ram_mb,
        Vm.flavor,
        Vm.status_changed_at,
        Vm.requested_at,
        func.coalesce(s.c.ads, 0),
        func.coalesce(s.c.slots, 0),
        func.coalesce(s.c.busy_slots, 0),
        func.coalesce(s.c.slot_cores, 0),
        func.coalesce(s.c.busy_cores, 0),
        func.coalesce(s.c.idle_cores, 0),
        func.coalesce(s.c.retiring, 0).cast(Integer),
        func.coalesce(Vm.slots_changed_at, s.c.slot_changed_at),
    ]
    if detail:
        cols += [
            Vm.cloud_status,
            Vm.ips,
            Vm.error,
            Vm.retire_count,
            Vm.kill_requested_at,
            Vm.adopted_from,
            s.c.drain_reason,
        ]
    query = (
        select(*cols)
        .outerjoin(s, s.c.vm_id == Vm.vm_id)
        .where(Vm.group_name.in_(list(groups)), Vm.status != VmStatus.GONE.value)
        .order_by(Vm.group_name, Vm.cloud_name, Vm.vm_id)
    )
    if cloud is not None:
        query = query.where(Vm.cloud_name == cloud)
    if vm_ids is not None:
        query = query.where(Vm.vm_id.in_(list(vm_ids)))
    return [_row(r, detail) for r in session.execute(query)]


def _row(r, detail: bool) -> VmRow:
    (
        vm_id,
        group,
        cloud,
        status,
        manual,
        retire_at,
        cores,
        ram,
        flavor,
        changed,
        requested,
        ads,
        slots,
        busy_slots,
        slot_cores,
        busy_cores,
        idle_cores,
        retiring,
        slot_changed,
    ) = r[:19]
    state = vm_state(
        status=status,
        manual=bool(manual),
        retiring=retire_at is not None or bool(retiring),
        registered=ads > 0,
        busy=busy_slots > 0,
    )
    cloud_status, ips, error, retire_count, kill_at, adopted, drain_reason = (
        r[19:] if detail else (None, (), None, 0, None, None, None)
    )
    return VmRow(
        vm_id=vm_id,
        group_name=group,
        cloud_name=cloud,
        state=state,
        status=status,
        cloud_status=cloud_status,
        flavor=flavor,
        cores=cores or 0,
        ram_mb=ram or 0,
        ips=tuple(ips or ()),
        slots=int(slots),
        busy_slots=int(busy_slots),
        slot_cores=int(slot_cores),
        busy_cores=int(busy_cores),
        idle_cores=int(idle_cores),
        manual=bool(manual),
        error=error,
        retire_requested_at=retire_at,
        retire_count=retire_count or 0,
        kill_requested_at=kill_at,
        adopted_from=adopted,
        drain_reason=drain_reason,
        since=slot_changed or changed or requested,
    )


def state_expression(slots) -> object:
    """``vm_state`` as SQL over ``vms`` outer-joined with :func:`slot_summary` (first match wins)."""
    registered = func.coalesce(slots.c.ads, 0) > 0
    retiring = or_(Vm.retire_requested_at.is_not(None), func.coalesce(slots.c.retiring, 0) > 0)
    starting = and_(
        Vm.status.in_((VmStatus.REQUESTED.value, VmStatus.BUILDING.value, VmStatus.UNKNOWN.value)),
        ~registered,
    )
    return case(
        (Vm.status == VmStatus.GONE.value, VmState.GONE.value),
        (Vm.manual.is_(True), VmState.MANUAL.value),
        (Vm.status == VmStatus.ERROR.value, VmState.ERROR.value),
        (retiring, VmState.RETIRING.value),
        (starting, VmState.STARTING.value),
        (~registered, VmState.UNREGISTERED.value),
        (func.coalesce(slots.c.busy_slots, 0) > 0, VmState.RUNNING.value),
        else_=VmState.IDLE.value,
    )


@dataclass(frozen=True)
class StateCount:
    group_name: str
    cloud_name: str
    state: VmState
    vms: int
    cores: int
    ram_mb: int
    slots: int
    slot_cores: int
    busy_cores: int
    idle_cores: int


def state_counts(session: Session, groups: Iterable[str]) -> list[StateCount]:
    """VMs (not gone) and their resources per (group, cloud, derived state), in one statement."""
    s = slot_summary()
    state = state_expression(s).label("state")
    zero = lambda col: func.coalesce(func.sum(col), 0)  # noqa: E731
    query = (
        select(
            Vm.group_name,
            Vm.cloud_name,
            state,
            func.count(),
            zero(Vm.cores),
            zero(Vm.ram_mb),
            zero(s.c.slots),
            zero(s.c.slot_cores),
            zero(s.c.busy_cores),
            zero(s.c.idle_cores),
        )
        .outerjoin(s, s.c.vm_id == Vm.vm_id)
        .where(Vm.group_name.in_(list(groups)), Vm.status != VmStatus.GONE.value)
        .group_by(Vm.group_name, Vm.cloud_name, state)
    )
    return [
        StateCount(g, c, VmState(st), *(int(v) for v in rest)) for g, c, st, *rest in session.execute(query)
    ]
