"""Builders of observed state for status and plugin tests: a few calls make a world of groups, clouds,
VMs with their startd slots, jobs, limits, poll records, back-offs and planning runs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from include.store.models import (
    Backoff,
    Cloud,
    CloudLimits,
    Group,
    Job,
    Machine,
    PlanRun,
    PlanSkip,
    PollStatus,
    TimeseriesSample,
    UserGroup,
    Vm,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count()


def group(s: Session, name: str, **kw) -> Group:
    row = Group(name=name, pool_kind=kw.pop("pool_kind", "simulated"), **kw)
    s.add(row)
    s.flush()
    return row


def cloud(s: Session, grp: str, name: str, **kw) -> Cloud:
    row = Cloud(group_name=grp, name=name, cloud_type=kw.pop("cloud_type", "simulated"), **kw)
    s.add(row)
    s.flush()
    return row


def member(s: Session, username: str, grp: str, role: str = "viewer") -> None:
    s.add(UserGroup(username=username, group_name=grp, role=role))
    s.flush()


def vm_row(
    s: Session,
    grp: str,
    cld: str,
    *,
    state: str = "running",
    cores: int = 8,
    ram_mb: int = 16000,
    vm_id: str | None = None,
    flavor: str = "c8",
    at: datetime = NOW,
    **kw,
) -> Vm:
    """A VM in a given derived state, with the cloud status and startd slots that produce it."""
    vm_id = vm_id or f"{cld}-{next(_ids):06d}"
    status = kw.pop("status", None) or {"starting": "building", "error": "error"}.get(state, "active")
    row = Vm(
        vm_id=vm_id,
        group_name=grp,
        cloud_name=cld,
        status=status,
        cores=cores,
        ram_mb=ram_mb,
        flavor=flavor,
        requested_at=at - timedelta(hours=1),
        status_changed_at=at - timedelta(minutes=30),
        manual=state == "manual",
        **kw,
    )
    if state == "retiring":
        row.retire_requested_at = at - timedelta(minutes=5)
    s.add(row)
    if state in ("idle", "running", "retiring", "manual"):
        slot(
            s,
            vm_id,
            grp,
            cld,
            "Partitionable",
            cores=0 if state == "running" else cores,
            total_cores=cores,
            at=at,
        )
        if state == "running":
            slot(s, vm_id, grp, cld, "Dynamic", cores=cores, state="Claimed", activity="Busy", at=at)
    s.flush()
    return row


def slot(
    s: Session,
    vm_id: str,
    grp: str,
    cld: str,
    slot_type: str,
    *,
    cores: int,
    total_cores: int = 0,
    state: str = "Unclaimed",
    activity: str = "Idle",
    at: datetime = NOW,
) -> Machine:
    row = Machine(
        pool=grp,
        name=f"slot{next(_ids)}@{vm_id}",
        machine=vm_id,
        vm_id=vm_id,
        group_name=grp,
        cloud_name=cld,
        slot_type=slot_type,
        state=state,
        activity=activity,
        cores=cores,
        total_cores=total_cores,
        entered_state_at=at - timedelta(minutes=10),
    )
    s.add(row)
    return row


def jobs(
    s: Session,
    grp: str | None,
    n: int,
    *,
    status: int = 1,
    cores: int = 1,
    alias: str | None = None,
    pool: str | None = None,
) -> None:
    s.add_all(
        Job(
            pool=pool or grp or "",
            global_job_id=f"job{next(_ids)}",
            group_name=grp,
            target_alias=alias,
            status=status,
            cores=cores,
        )
        for _ in range(n)
    )
    s.flush()


def limits(s: Session, grp: str, cld: str, **kw) -> CloudLimits:
    row = CloudLimits(group_name=grp, cloud_name=cld, polled_at=NOW, **kw)
    s.add(row)
    s.flush()
    return row


def poll(
    s: Session,
    source: str,
    *,
    ok: bool = True,
    age_s: float = 10,
    error: str | None = None,
    now: datetime = NOW,
) -> PollStatus:
    kind, grp, *rest = source.split("/")
    at = now - timedelta(seconds=age_s)
    row = PollStatus(
        source=source,
        kind=kind,
        group_name=grp,
        cloud_name=rest[0] if kind == "cloud" else None,
        last_attempt=now - timedelta(seconds=5),
        last_success=at,
        ok=ok,
        error=error,
        consecutive_failures=0 if ok else 1,
    )
    s.add(row)
    s.flush()
    return row


def backoff(
    s: Session,
    grp: str,
    cld: str,
    flavor: str,
    *,
    failures: int,
    until: datetime | None = None,
    disabled: bool = False,
    error: str | None = None,
) -> None:
    s.add(
        Backoff(
            group_name=grp,
            cloud_name=cld,
            flavor=flavor,
            failures=failures,
            until=until,
            disabled=disabled,
            last_error=error,
            last_failure_at=NOW - timedelta(minutes=1),
        )
    )
    s.flush()


def plan_run(
    s: Session,
    grp: str | None,
    skips: list[tuple[str, str | None, int]],
    *,
    at: datetime = NOW,
    dry_run: bool = False,
) -> PlanRun:
    """A planning run with skips given as (reason, cloud, jobs)."""
    run = PlanRun(at=at, group_name=grp, dry_run=dry_run)
    s.add(run)
    s.flush()
    for i, (reason, cld, n) in enumerate(skips):
        s.add(
            PlanSkip(
                run_id=run.id,
                group_name=grp or "atlas",
                cloud_name=cld,
                subject=f"shape{i}",
                reason=reason,
                jobs=n,
                detail=f"{reason} detail {i}",
            )
        )
    s.flush()
    return run


def sample(s: Session, grp: str, cld: str, ts: datetime, **values: int) -> None:
    s.add(TimeseriesSample(ts=ts, group_name=grp, cloud_name=cld, **values))
