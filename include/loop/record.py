"""Write a plan's intents into the store, in one transaction, before anything calls a cloud or the pool.

- Each boot becomes a ``boot_requests`` row (state ``planned``) and one ``vms`` row per VM id (status
  ``requested``): the next snapshot counts them as supply, and a retried act step re-creates with the same
  ids, so the cloud's idempotency (name / client token) finds the VMs already made.
- Each retire marks the VM (``retire_requested_at``, ``retire_reason``); each delete marks
  ``delete_requested_at``. A delete that counts as a boot failure backs its (cloud, flavour) off, once.
- The run and its skips are kept for the UI ("why nothing booted").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from include.config.settings import Settings
from include.scheduler.actions import Plan
from include.scheduler.states import VmStatus
from include.store.models import Backoff, BootRequest, PlanRun, PlanSkip, UnmatchedJob, Vm


def keep_unmatched(session: Session, groups: list[str], marks) -> None:
    """The jobs of ``groups`` set aside now (``plan.unmatched``) replace those of the last run: a job that
    left the queue, started, or reached its recheck time is no longer among them."""
    session.execute(delete(UnmatchedJob).where(UnmatchedJob.group_name.in_(groups)))
    session.add_all(
        UnmatchedJob(group_name=u.group, job_id=u.job_id, since=u.since, vm_id=u.vm_id or "")
        for u in marks
        if u.group in groups
    )


def record_plan(
    session: Session,
    plan: Plan,
    now: datetime,
    settings: Settings,
    *,
    group: str | None = None,
    duration_s: float = 0.0,
    dry_run: bool = False,
) -> int:
    """Store the run (and, unless ``dry_run``, its intents); returns the plan run id."""
    run = PlanRun(
        at=now,
        group_name=group,
        dry_run=dry_run,
        duration_s=duration_s,
        boots=len(plan.boots),
        retires=len(plan.retires),
        deletes=len(plan.deletes),
        summary=_jsonable(plan.summary()),
    )
    session.add(run)
    session.flush()
    session.add_all(
        PlanSkip(
            run_id=run.id,
            group_name=s.group,
            cloud_name=s.cloud,
            subject=s.subject[:255],
            reason=s.reason.value,
            jobs=s.jobs,
            detail=s.detail,
        )
        for s in plan.skips
    )
    if not dry_run:
        _boots(session, plan, now)
        _retires(session, plan, now)
        _deletes(session, plan, now, settings)
    session.flush()
    return run.id


def _boots(session: Session, plan: Plan, now: datetime) -> None:
    known = set(
        session.scalars(
            select(BootRequest.request_id).where(
                BootRequest.request_id.in_([b.request_id for b in plan.boots])
            )
        )
    )
    for b in plan.boots:
        if b.request_id in known:
            continue  # the same plan recorded twice (a retried task): one intent
        session.add(
            BootRequest(
                request_id=b.request_id,
                group_name=b.group,
                cloud_name=b.cloud,
                flavor=b.flavor,
                image=b.image,
                count=b.count,
                target_alias=b.target_alias,
                created_at=now,
                owners=list(b.owners),
                network=b.network,
                keyname=b.keyname,
                security_groups=list(b.security_groups),
                user_data=b.user_data,
                spot_price=b.spot_price,
            )
        )
        session.add_all(
            Vm(
                vm_id=vm_id,
                group_name=b.group,
                cloud_name=b.cloud,
                request_id=b.request_id,
                flavor=b.flavor,
                image=b.image,
                cores=b.cores,
                ram_mb=b.ram_mb,
                target_alias=b.target_alias,
                keep_alive=b.keep_alive,
                spot=b.spot_price is not None,
                status=VmStatus.REQUESTED.value,
                requested_at=now,
                status_changed_at=now,
            )
            for vm_id in b.vm_ids
        )


def _retires(session: Session, plan: Plan, now: datetime) -> None:
    for r in plan.retires:
        session.execute(
            update(Vm)
            .where(Vm.vm_id == r.vm_id, Vm.retire_requested_at.is_(None))
            .values(retire_requested_at=now, retire_reason=r.reason.value)
        )


def _deletes(session: Session, plan: Plan, now: datetime, settings: Settings) -> None:
    for d in plan.deletes:
        vm = session.get(Vm, d.vm_id)
        if vm is None:
            continue
        if vm.delete_requested_at is None:
            vm.delete_requested_at = now
        if d.count_as_boot_failure and not vm.boot_failure_counted:
            vm.boot_failure_counted = True
            count_boot_failure(
                session,
                vm.group_name,
                vm.cloud_name,
                vm.flavor or "",
                now,
                settings,
                f"{d.reason.value}: {d.detail}".strip(": "),
                booted_at=vm.requested_at,
                vm_id=vm.vm_id,
            )


# The reason text of a back-off that grows but never disables (act.py: capacity short on several flavours).
SOFT_BACKOFF = "CapacityError on several flavours"


def count_boot_failure(
    session: Session,
    group: str,
    cloud: str,
    flavor: str,
    now: datetime,
    settings: Settings,
    error: str,
    booted_at: datetime | None = None,
    vm_id: str | None = None,
    disable: bool = True,
) -> Backoff:
    """One more failure of (cloud, flavour): back off ``backoff_base * 2^(n-1)`` (capped), and disable
    booting there after ``boot_failure_threshold`` in a row until an operator or a success clears it
    (unless ``disable`` is False: a back-off that only grows). A VM booted no later than another VM there
    that registered is a straggler: noted, not counted."""
    row = session.get(Backoff, (group, cloud, flavor))
    if row is None:
        row = Backoff(group_name=group, cloud_name=cloud, flavor=flavor, failures=0, disabled=False)
        session.add(row)
    if (
        booted_at is not None
        and row.last_success_at is not None
        and booted_at <= row.last_success_at
        and row.last_success_vm != vm_id
    ):
        row.last_failure_at, row.last_error = now, error[:2000]
        session.flush()
        return row
    if disable and (row.last_error or "").startswith(SOFT_BACKOFF):
        # Failures that only back off (a region short of capacity) do not count toward disabling: the
        # run of failures that can disable the cloud starts with this one.
        row.failures = 0
    row.failures = (row.failures or 0) + 1
    delay = min(settings.backoff_base * 2 ** (row.failures - 1), settings.backoff_max)
    row.last_failure_at, row.until, row.last_error = now, now + timedelta(seconds=delay), error[:2000]
    if disable and row.failures >= settings.boot_failure_threshold:
        row.disabled = True
    session.flush()
    return row


def clear_boot_failures(
    session: Session, group: str, cloud: str, flavor: str, booted_at: datetime, vm_id: str
) -> None:
    """A VM booted there at ``booted_at`` registered: that clears the (cloud, flavour)'s failures, so the
    next failure starts the count over."""
    row = session.get(Backoff, (group, cloud, flavor))
    if row is None:
        row = Backoff(group_name=group, cloud_name=cloud, flavor=flavor, failures=0, disabled=False)
        session.add(row)
    row.failures, row.until, row.disabled = 0, None, False
    if row.last_success_at is None or booted_at >= row.last_success_at:
        row.last_success_at, row.last_success_vm = booted_at, vm_id
    session.flush()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value
