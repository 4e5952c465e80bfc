"""Load the planner's :class:`Snapshot` from the store.

Capacity before demand: VMs and startd slots are read before jobs, so a job that started between the
two reads is counted as running work on its VM rather than as idle demand plus an idle VM. Freshness
comes from ``poll_status``: a cloud never polled, failing, or silent longer than ``stale_after`` is
stale (frozen, not empty); so is a group's pool when any of its parts is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from include.providers.kinds import kind_of
from include.scheduler.model import (
    Backoff,
    BootVolume,
    CloudConfig,
    Flavor,
    GroupConfig,
    JobDefaults,
    Limits,
    Quota,
    Snapshot,
    VmSettings,
)
from include.scheduler.tables import JOB_COLUMNS, SLOT_COLUMNS, VM_COLUMNS, normalized
from include.scheduler.unmatched import Unmatched
from include.store import models as m
from include.store.freshness import cloud_source, fresh_sources, pool_sources_of

JOB_SQL_COLUMNS = {
    "group": m.Job.group_name,
    "owner": m.Job.owner,
    "status": m.Job.status,
    "cores": m.Job.cores,
    "ram_mb": m.Job.ram_mb,
    "disk_gb": m.Job.disk_gb,
    "swap_gb": m.Job.swap_gb,
    "target_alias": m.Job.target_alias,
    "image": m.Job.image,
    "instance_type": m.Job.instance_type,
    "network": m.Job.network,
    "user_data": m.Job.user_data,
    "keep_alive": m.Job.keep_alive,
    "max_price": m.Job.max_price,
    "priority": m.Job.priority,
    "q_date": m.Job.q_date,
    "job_id": m.Job.global_job_id,
    "rejected_at": m.Job.rejected_at,
}
SLOT_SQL_COLUMNS = {
    "vm_id": m.Machine.vm_id,
    "slot_type": m.Machine.slot_type,
    "state": m.Machine.state,
    "activity": m.Machine.activity,
    "cores": m.Machine.cores,
    "memory_mb": m.Machine.memory_mb,
    "entered_state_at": m.Machine.entered_state_at,
    "retiring": m.Machine.retiring,
    "drain_reason": m.Machine.drain_reason,
}
VM_RENAMES = {"group_name": "group", "cloud_name": "cloud"}


def load_snapshot(
    session: Session, now: datetime, settings: dict[str, Any], groups: Iterable[str] | None = None
) -> Snapshot:
    """Everything one planning run sees, for ``groups`` (default: every configured group)."""
    stale_after = timedelta(seconds=settings.stale_after)
    group_rows = session.scalars(select(m.Group).order_by(m.Group.name)).all()
    wanted = {g.name for g in group_rows} if groups is None else set(groups)
    freshness = fresh_sources(session, now, stale_after)
    vms = _vms(session, wanted)
    slots = _frame(
        session,
        SLOT_SQL_COLUMNS,
        SLOT_COLUMNS,
        m.Machine.vm_id.in_(select(m.Vm.vm_id).where(m.Vm.group_name.in_(wanted))),
    )
    jobs = _frame(
        session, JOB_SQL_COLUMNS, JOB_COLUMNS, m.Job.group_name.in_(wanted) & m.Job.status.in_((1, 2, 5))
    )
    return Snapshot(
        groups=tuple(_group(session, g, freshness) for g in group_rows if g.name in wanted),
        clouds=tuple(_clouds(session, wanted, freshness)),
        jobs=jobs,
        vms=vms,
        slots=slots,
        backoffs=tuple(_backoffs(session, wanted)),
        unmatched=_unmatched(session, wanted),
    )


def _unmatched(session: Session, groups: set[str]) -> dict[tuple[str, str], Unmatched]:
    rows = session.scalars(select(m.UnmatchedJob).where(m.UnmatchedJob.group_name.in_(groups)))
    return {(u.group_name, u.job_id): Unmatched(u.group_name, u.job_id, u.since, u.vm_id) for u in rows}


def _group(session: Session, g: m.Group, freshness: dict[str, bool]) -> GroupConfig:
    members = frozenset(session.scalars(select(m.UserGroup.username).where(m.UserGroup.group_name == g.name)))
    parts = [fresh for source, fresh in freshness.items() if source.startswith(pool_sources_of(g.name))]
    return GroupConfig(
        name=g.name,
        job_defaults=JobDefaults(g.job_cores, g.job_ram_mb, g.job_disk_gb, g.job_swap_gb),
        vm=VmSettings(
            image=g.vm_image,
            flavor=g.vm_flavor,
            keyname=g.vm_keyname,
            network=g.vm_network,
            security_groups=tuple(g.vm_security_groups or ()),
            keep_alive=g.vm_keep_alive,
        ),
        delete_on_job_completion=g.delete_on_job_completion,
        other_submitters=frozenset(g.other_submitters or ()),
        members=members,
        pool_stale=not parts or not all(parts),  # never polled counts as stale: no data, no action
    )


def _clouds(session: Session, groups: set[str], freshness: dict[str, bool]) -> list[CloudConfig]:
    by_cloud: dict[str, dict[tuple[str, str], Any]] = defaultdict(lambda: defaultdict(list))
    in_groups = {
        "aliases": m.AliasCloud,
        "exclusions": m.FlavorExclusion,
        "flavors": m.CloudFlavor,
        "images": m.CloudImage,
    }
    for kind, model in in_groups.items():
        for row in session.scalars(select(model).where(model.group_name.in_(groups))):
            by_cloud[kind][(row.group_name, row.cloud_name)].append(row)
    limits = {
        (r.group_name, r.cloud_name): r
        for r in session.scalars(select(m.CloudLimits).where(m.CloudLimits.group_name.in_(groups)))
    }
    polled = {
        (r.group_name, r.cloud_name): r.last_success
        for r in session.scalars(select(m.PollStatus).where(m.PollStatus.kind == "cloud"))
    }
    clouds = []
    for c in session.scalars(
        select(m.Cloud).where(m.Cloud.group_name.in_(groups)).order_by(m.Cloud.group_name, m.Cloud.name)
    ):
        key = (c.group_name, c.name)
        clouds.append(
            CloudConfig(
                group=c.group_name,
                name=c.name,
                cloud_type=c.cloud_type,
                enabled=c.enabled,
                paused=c.paused,
                priority=c.priority,
                endpoint="|".join(str(x or "") for x in (c.auth_url, c.region, c.project))
                if kind_of(c.cloud_type).shared_endpoint
                else None,
                aliases=frozenset(a.alias for a in by_cloud["aliases"][key]),
                vm=VmSettings(
                    image=c.vm_image,
                    flavor=c.vm_flavor,
                    keyname=c.vm_keyname,
                    network=c.vm_network,
                    security_groups=None if c.vm_security_groups is None else tuple(c.vm_security_groups),
                    keep_alive=c.vm_keep_alive,
                ),
                boot_volume=None
                if not c.boot_volume
                else BootVolume(
                    c.boot_volume.get("gb", 0),
                    c.boot_volume.get("gb_per_core", 0),
                    c.boot_volume.get("volume_type"),
                ),
                spot_price=c.spot_price,
                flavor_prices=tuple(sorted((c.flavor_prices or {}).items())),
                limits=Limits(c.cores_ctl, c.cores_softmax, c.ram_ctl, c.max_vms),
                max_boot_per_cycle=c.max_boot_per_cycle,
                delete_on_job_completion=c.delete_on_job_completion,
                flavor_exclusions=frozenset(e.flavor_name for e in by_cloud["exclusions"][key]),
                flavors=tuple(_flavor(c, f) for f in sorted(by_cloud["flavors"][key], key=lambda f: f.name)),
                images=frozenset(i.name for i in by_cloud["images"][key])
                | {i.image_id for i in by_cloud["images"][key]},
                ambiguous_images=_ambiguous(by_cloud["images"][key]),
                quota=_quota(limits.get(key)),
                stale=not freshness.get(cloud_source(c.group_name, c.name), False),
                last_poll_at=polled.get(key),
                # The operator's typed date overrides what Keystone reports.
                credential_expiry=c.credential_expiry
                or getattr(limits.get(key), "credential_expires_at", None),
            )
        )
    return clouds


def _ambiguous(images: list[m.CloudImage]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    ids: dict[str, set[str]] = defaultdict(set)
    for i in images:
        if i.name:
            ids[i.name].add(i.image_id)
    return tuple((name, tuple(sorted(found))) for name, found in sorted(ids.items()) if len(found) > 1)


EBS_ROOT_GB = 1_000_000.0


def _flavor(cloud: m.Cloud, f: m.CloudFlavor) -> Flavor:
    # An EC2 instance type's disk is its instance store; the root disk is an EBS volume sized by the
    # image (and growable at launch), not by the type. Counting only instance store would push every
    # job with a disk request onto the few storage-optimised types, so EC2 disk never limits a fit.
    disk = max(f.disk_gb, EBS_ROOT_GB) if kind_of(cloud.cloud_type).unbounded_root_disk else f.disk_gb
    return Flavor(f.name, f.cores, f.ram_mb, disk, f.ephemeral_gb, f.swap_gb, f.price)


def _quota(row: m.CloudLimits | None) -> Quota:
    if row is None:
        return Quota()
    names = (
        "cores_max",
        "cores_used",
        "ram_max_mb",
        "ram_used_mb",
        "instances_max",
        "instances_used",
        "volumes_max",
        "volumes_used",
        "volume_gb_max",
        "volume_gb_used",
        "foreign_vms",
        "foreign_cores",
        "foreign_ram_mb",
    )
    return Quota(**{n: getattr(row, n) for n in names})


def _backoffs(session: Session, groups: set[str]) -> list[Backoff]:
    rows = session.scalars(select(m.Backoff).where(m.Backoff.group_name.in_(groups)))
    return [Backoff(b.group_name, b.cloud_name, b.flavor, b.failures, b.until, b.disabled) for b in rows]


def _vms(session: Session, groups: set[str]) -> pd.DataFrame:
    names = [c for c in VM_COLUMNS if c not in ("group", "cloud", "owners")] + ["group_name", "cloud_name"]
    query = (
        select(*(getattr(m.Vm, n) for n in names), m.BootRequest.owners)
        .outerjoin(m.BootRequest, m.BootRequest.request_id == m.Vm.request_id)
        .where(m.Vm.group_name.in_(groups))
    )
    df = pd.DataFrame(session.execute(query).all(), columns=[*names, "owners"]).rename(columns=VM_RENAMES)
    df["owners"] = [" ".join(o) if o else None for o in df["owners"]]
    return normalized(df, VM_COLUMNS)


def _frame(session: Session, sql_columns: dict[str, Any], columns, where) -> pd.DataFrame:
    query = select(*sql_columns.values()).where(where)
    df = pd.DataFrame(session.execute(query).all(), columns=list(sql_columns))
    return normalized(df, columns)
