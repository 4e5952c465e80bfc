"""Operator actions shared by the ``cloudscheduler`` CLI and the manual DAGs (``cs_ops_*``): they select
VMs the way the original's ``vm update`` did and record intents; the next scheduling run acts.

VM selection: explicit ids, ``all`` (optionally filtered by cloud and derived state), or a number with
``kill``/``retire``/``retain`` (the N least valuable VMs, as the planner ranks them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

import include.scheduler as scheduler
from include.config.settings import load_settings
from include.loop.snapshot import load_snapshot
from include.scheduler.ids import request_id  # pure, but keeps pandas out of the CLI's start-up
from include.status.vms import vm_rows
from include.store.intents import IntentError, request_cloud_action, request_vm_action
from include.store.models import AuditEntry, BootRequest, Cloud, CloudFlavor, Group, Vm

NUMBERED = {"kill": "kill_n", "retire": "retire_n", "retain": "retain_n"}


@dataclass(frozen=True)
class VmSelection:
    group: str
    hosts: Sequence[str] | str = ()  # vm ids, or "all"
    count: int | None = None  # kill / retire / retain N
    cloud: str | None = None
    states: Sequence[str] = ()  # derived states to keep with "all" (e.g. idle, error)


def vm_action(session: Session, action: str, selection: VmSelection, actor: str, now: datetime) -> list[str]:
    """Record ``action`` (retire, kill, manctl, sysctl, retain) on the selected VMs; returns their ids."""
    if action == "retain" and selection.count is None:
        raise IntentError("retain needs a number: the VMs to keep")
    if selection.count is not None:
        if action not in NUMBERED:
            raise IntentError(f"a number works with kill, retire or retain, not {action}")
        ids = _numbered(session, action, selection, now)
        action = "retire" if action == "retain" else action
    elif selection.hosts == "all":
        ids = _all(session, selection, now)
    else:
        ids = list(selection.hosts)
    if not ids:
        return []
    return request_vm_action(session, ids, action, actor, now, group=selection.group)


def _numbered(session: Session, action: str, sel: VmSelection, now: datetime) -> list[str]:
    snapshot = load_snapshot(session, now, load_settings(session), [sel.group])
    return getattr(scheduler, NUMBERED[action])(snapshot, sel.count, group=sel.group, cloud=sel.cloud)


def _all(session: Session, sel: VmSelection, now: datetime) -> list[str]:

    rows = vm_rows(session, [sel.group], cloud=sel.cloud)
    return sorted(r.vm_id for r in rows if not sel.states or r.state in sel.states)


def cloud_action(session: Session, group: str, cloud: str, action: str, actor: str, now: datetime) -> None:
    request_cloud_action(session, group, cloud, action, actor, now)


def boot_test_vms(
    session: Session,
    group: str,
    cloud: str,
    count: int,
    actor: str,
    now: datetime,
    flavor: str | None = None,
    image: str | None = None,
) -> str:
    """Record a boot request of ``count`` VMs on one cloud (F10: boot N test VMs), outside the planner.
    The VMs are ordinary VMs afterwards: idle past keep-alive, they are retired like any other."""

    row = session.get(Cloud, (group, cloud))
    if row is None:
        raise IntentError(f"no such cloud: {group}/{cloud}")
    g = session.get(Group, group)
    flavor = flavor or row.vm_flavor or g.vm_flavor
    image = image or row.vm_image or g.vm_image
    sizes = {
        f.name: f for f in session.scalars(select(CloudFlavor).filter_by(group_name=group, cloud_name=cloud))
    }
    if not flavor:
        if not sizes:
            raise IntentError(f"{group}/{cloud} has no polled flavours yet; name one")
        flavor = min(sizes.values(), key=lambda f: (f.cores, f.ram_mb, f.name)).name
    if flavor not in sizes:
        raise IntentError(
            f"{group}/{cloud} has no flavour '{flavor}' (known: {', '.join(sorted(sizes)) or 'none'})"
        )
    if not image:
        raise IntentError(f"{group}/{cloud} has no default image; name one")
    rid = request_id(group, cloud, flavor, now, f"operator:{actor}", 0)
    size = sizes[flavor]
    session.add(
        BootRequest(
            request_id=rid,
            group_name=group,
            cloud_name=cloud,
            flavor=flavor,
            image=image,
            count=count,
            created_at=now,
        )
    )
    session.add_all(
        Vm(
            vm_id=f"{rid}-{i}",
            group_name=group,
            cloud_name=cloud,
            request_id=rid,
            flavor=flavor,
            image=image,
            cores=size.cores,
            ram_mb=size.ram_mb,
            requested_at=now,
            status_changed_at=now,
        )
        for i in range(1, count + 1)
    )
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            action="vm.boot",
            object_type="cloud",
            object_key=f"{group}/{cloud}",
            detail={"count": count, "flavor": flavor, "image": image, "request_id": rid},
        )
    )
    session.flush()
    return rid


def actor_of(context) -> str:
    """Who triggered a manual DAG run, for the audit log (``airflow:<user>``)."""
    dag_run = context.get("dag_run")
    user = getattr(dag_run, "triggering_user_name", None) or "unknown"
    return f"airflow:{user}"
