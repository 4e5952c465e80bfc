"""Keep the pool-side history of our VMs from the startd ads the condor poller wrote.

The planner needs three facts the pool does not keep: when a VM's startd first registered, when it first
ran a job, and when its slots last changed (the original's "age": keep-alive counts idle time from the
moment the last job ended, not from boot). They are derived here by comparing each VM's current slots
with what they looked like at the previous cycle (``slot_signature``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from include.loop.record import clear_boot_failures, count_boot_failure
from include.providers.base import ErrorKind, classify_fault
from include.store.models import Machine, Vm

CLAIMED = ("Claimed", "Matched", "Preempting")


def slot_signature(slots: list[tuple[str, str]]) -> str | None:
    """A short description of a VM's slots that changes when a job starts or ends on it."""
    if not slots:
        return None
    counts: dict[str, int] = defaultdict(int)
    for slot_type, state in slots:
        counts[f"{slot_type[:1]}{'c' if state in CLAIMED else 'u'}"] += 1
    return ",".join(f"{k}{v}" for k, v in sorted(counts.items()))


def sync_vm_history(session: Session, now: datetime, groups: Iterable[str]) -> int:
    """Update registered_at / first_job_at / slots_changed_at / slot_signature; returns VMs changed."""
    groups = list(groups)
    slots: dict[str, list[tuple[str, str, datetime | None]]] = defaultdict(list)
    query = (
        select(Machine.vm_id, Machine.slot_type, Machine.state, Machine.entered_state_at)
        .join(Vm, Vm.vm_id == Machine.vm_id)
        .where(Vm.group_name.in_(groups))
    )
    for vm_id, slot_type, state, entered in session.execute(query):
        slots[vm_id].append((slot_type, state, entered))
    vms = session.execute(
        select(
            Vm.vm_id,
            Vm.registered_at,
            Vm.first_job_at,
            Vm.slot_signature,
            Vm.group_name,
            Vm.cloud_name,
            Vm.flavor,
            Vm.requested_at,
        ).where(Vm.group_name.in_(groups), Vm.status != "gone")
    )
    updates, succeeded = [], []
    for vm_id, registered_at, first_job_at, old_signature, group, cloud, flavor, requested_at in vms:
        mine = slots.get(vm_id, [])
        signature = slot_signature([(t, s) for t, s, _ in mine])
        values = {}
        if mine and registered_at is None:
            values["registered_at"] = _earliest([e for _, _, e in mine], now)
            succeeded.append((group, cloud, flavor or "", requested_at or now, vm_id))
        claimed = [e for _, s, e in mine if s in CLAIMED]
        if claimed and first_job_at is None:
            values["first_job_at"] = _earliest(claimed, now)
        if signature != old_signature:
            values["slot_signature"] = signature
            values["slots_changed_at"] = _latest([e for _, _, e in mine], now)
        if values:
            updates.append({"vm_id": vm_id, **values})
    # One executemany per set of columns (ORM bulk UPDATE by primary key), not a statement per VM: a
    # cold start or a burst registers thousands of VMs in one cycle (10,000: 5 s -> well under 1 s).
    by_columns: dict[tuple[str, ...], list[dict]] = defaultdict(list)
    for row in updates:
        by_columns[tuple(sorted(row))].append(row)
    for rows in by_columns.values():
        session.execute(update(Vm), rows)
    # A VM whose startd joined the pool is the proof a boot there works: it clears that flavour's
    # failures (and the whole cloud's), so the next failure starts the back-off over. Once per
    # (cloud, flavour), with its latest boot, which is what clearing for each VM in turn left behind.
    latest: dict[tuple[str, str, str], tuple[datetime, str]] = {}
    for group, cloud, flavor, booted_at, vm_id in succeeded:
        for key in ((group, cloud, flavor), (group, cloud, "")):
            latest[key] = max(latest.get(key, (booted_at, vm_id)), (booted_at, vm_id))
    for (group, cloud, flavor), (booted_at, vm_id) in sorted(latest.items()):
        clear_boot_failures(session, group, cloud, flavor, booted_at, vm_id)
    return len(updates)


def _earliest(times: list[datetime | None], now: datetime) -> datetime:
    known = [t for t in times if t is not None and t <= now]
    return min(known) if known else now


def _latest(times: list[datetime | None], now: datetime) -> datetime:
    # The slot that changed last entered its state last; ads without that time date the change to now.
    known = [t for t in times if t is not None and t <= now]
    return max(known) if known else now


def count_fault_failures(session: Session, now: datetime, settings: dict, groups: Iterable[str]) -> int:
    """Back off a (cloud, flavour) as soon as one of its new VMs lands in error with a capacity or quota
    fault (Nova reports "No valid host" asynchronously), instead of only when the error timeout deletes
    it; the VM is marked counted, so that delete does not count it twice."""

    counted = 0
    rows = session.scalars(
        select(Vm).where(
            Vm.group_name.in_(list(groups)),
            Vm.status == "error",
            Vm.boot_failure_counted.is_(False),
            Vm.registered_at.is_(None),
        )
    )
    for vm in rows:
        kind = classify_fault(vm.error)
        if kind in (ErrorKind.CAPACITY, ErrorKind.QUOTA):
            vm.boot_failure_counted = True
            count_boot_failure(
                session,
                vm.group_name,
                vm.cloud_name,
                vm.flavor or "",
                now,
                settings,
                f"{kind.value}: {vm.error}",
                booted_at=vm.requested_at,
                vm_id=vm.vm_id,
            )
            counted += 1
    return counted
