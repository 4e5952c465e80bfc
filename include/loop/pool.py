"""Carry out the pool side of a plan for one pool: send retires, drain and undrain startds to make room
for waiting multi-core jobs (``scheduler/room.py``), and forget VMs the clouds deleted.

A retire goes to every machine (host) whose startd advertises the VM's ``cs_vm_id``; a VM with no startd
has nothing to retire (the planner deletes it instead). A retire that cannot be sent (pool unreachable)
leaves ``retire_sent_at`` unchanged, so the planner's re-send schedule sends it again next cycle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from include.condor.records import MachineNotFound, Pool, PoolError, PoolUnreachable
from include.scheduler.states import VmStatus
from include.store.models import Machine, Vm

log = logging.getLogger(__name__)


@dataclass
class PoolOutcome:
    pool: str
    retired: dict[str, list[str]] = field(default_factory=dict)  # vm_id -> machines told
    unsent: dict[str, str] = field(default_factory=dict)  # vm_id -> why
    forgotten: list[str] = field(default_factory=list)  # vm rows removed
    errors: list[str] = field(default_factory=list)

    drained: list[str] = field(default_factory=list)  # vm ids whose startds now drain for waiting jobs
    undrained: list[str] = field(default_factory=list)  # vm ids whose drain of ours was cancelled

    def as_dict(self) -> dict[str, Any]:
        keys = ("pool", "retired", "unsent", "forgotten", "drained", "undrained", "errors")
        return {k: getattr(self, k) for k in keys}


def retire_vms(engine, pool: Pool, vm_ids: list[str], now: datetime) -> PoolOutcome:
    out = PoolOutcome(pool.spec.key)
    with Session(engine, expire_on_commit=False) as session:
        machines = _machines_of(session, pool.spec.key, vm_ids)
        for vm_id in sorted(vm_ids):
            vm = session.get(Vm, vm_id)
            if vm is None or vm.manual:
                continue  # never a retire to a manual VM (the original sent them)
            hosts = machines.get(vm_id, [])
            if not hosts:
                out.unsent[vm_id] = "no startd in the pool"
                continue
            try:
                for host in hosts:
                    pool.retire(host)
            except MachineNotFound:
                out.unsent[vm_id] = "its startd left the pool"
                continue
            except PoolUnreachable as err:
                out.unsent[vm_id] = str(err)
                out.errors.append(f"retire {vm_id}: {err}")
                continue
            vm.retire_sent_at, vm.retire_count = now, (vm.retire_count or 0) + 1
            vm.retire_requested_at = vm.retire_requested_at or now
            out.retired[vm_id] = hosts
            session.commit()
    return out


def drain_vms(
    engine, pool: Pool, drains: dict[str, str], undrains: list[str], ours: str, out: PoolOutcome
) -> PoolOutcome:
    """Start the planned drains (vm id -> DrainReason) and cancel ours on ``undrains``. Nothing is
    written: the next poll reads each startd's Draining and DrainReason, and the next plan decides from
    them (a drain or cancel that failed is simply planned again). Both are safe to repeat."""
    with Session(engine) as session:
        machines = _machines_of(session, pool.spec.key, sorted({*drains, *undrains}))
        manual = set(session.scalars(select(Vm.vm_id).where(Vm.vm_id.in_(list(machines)), Vm.manual)))
    for vm_id in sorted(machines):
        if vm_id in manual:
            continue  # an operator's VM: never drained nor undrained by us
        try:
            done = [
                pool.drain(host, drains[vm_id]) if vm_id in drains else pool.undrain(host, ours)
                for host in machines[vm_id]
            ]
        except MachineNotFound:
            continue  # it left: nothing to drain
        except PoolError as err:  # unreachable, or a drain refused (it would evict jobs)
            out.errors.append(f"{'drain' if vm_id in drains else 'undrain'} {vm_id}: {err}")
            continue
        if any(done):  # not when it already drained, or had no drain of ours to end
            (out.drained if vm_id in drains else out.undrained).append(vm_id)
    return out


def forget_gone(engine, pool: Pool | None, groups: list[str], now: datetime, keep: timedelta) -> list[str]:
    """Remove the rows of VMs the cloud no longer lists (status gone for longer than ``keep``), after
    invalidating any ads their startds left in the collector. Returns the vm ids removed."""
    removed = []
    with Session(engine, expire_on_commit=False) as session:
        gone = session.scalars(
            select(Vm).where(
                Vm.group_name.in_(groups), Vm.status == VmStatus.GONE.value, Vm.status_changed_at < now - keep
            )
        ).all()
        machines = _machines_of(session, pool.spec.key, [v.vm_id for v in gone]) if pool else {}
        for vm in gone:
            try:
                for host in machines.get(vm.vm_id, []):
                    pool.forget(host)
            except PoolUnreachable as err:
                log.warning("cannot invalidate the ads of %s yet: %s", vm.vm_id, err)
                continue
            session.execute(delete(Machine).where(Machine.vm_id == vm.vm_id))
            session.delete(vm)
            removed.append(vm.vm_id)
        session.commit()
    return removed


def _machines_of(session: Session, pool: str, vm_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    query = (
        select(Machine.vm_id, Machine.machine)
        .where(Machine.pool == pool, Machine.vm_id.in_(vm_ids))
        .group_by(Machine.vm_id, Machine.machine)
        .order_by(Machine.vm_id, Machine.machine)
    )
    for vm_id, host in session.execute(query):
        out.setdefault(vm_id, []).append(host)
    return out
