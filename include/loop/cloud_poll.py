"""The cloud poller (F3): one cloud's snapshot -> the store, safely.

Safety (semantics.md, Polling safety):
- Everything is fetched before anything is written; a failed fetch writes nothing but the source's
  ``poll_status`` (not ok, failure count, the error's safe message). Rows are never deleted by a poll.
- A VM row whose VM the cloud no longer lists becomes ``gone`` (the control loop removes it later),
  unless it was requested less than two poll intervals ago (clouds list new VMs late).
- A VM carrying our tags (this deployment, group and cloud) without a row is adopted: a row is created,
  so a restart between a create and its record never forgets a VM. So is a VM that cloudscheduler v2
  booted for this group and cloud (named or tagged by one of ``settings.csv2_host_ids``, see
  :mod:`include.csv2.naming`), marked ``adopted_from='csv2'``: it counts as supply and is retired and
  deleted by our rules like our own.
- The control loop's bookkeeping columns (retire_*, kill_*, delete_*, manual, keep_alive) are never
  written here.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Text, cast, select, update
from sqlalchemy.orm import Session

from include.config.settings import load_settings
from include.csv2.naming import ADOPTED_FROM, csv2_vm_id
from include.loop.inventory import write_inventory, write_poll_status
from include.providers.base import (
    TAG_ALIAS,
    TAG_CLOUD,
    TAG_DEPLOYMENT,
    TAG_GROUP,
    TAG_KEEP_ALIVE,
    TAG_REQUEST,
    TAG_VM_ID,
    CloudVm,
    VmStatus,
)
from include.scheduler.demand import choice_for
from include.store.bulk import bulk_insert
from include.store.db import session_scope
from include.store.models import Cloud, Group, Job, Vm

CLOUD_FIELDS = (
    "cloud_vm_id",
    "flavor",
    "image",
    "cores",
    "ram_mb",
    "status",
    "cloud_status",
    "error",
    "ips",
    "created_at",
    "spot",
)


TAG_ADOPTED_FROM = "cs_adopted_from"  # set here only, on a csv2 VM's listing; never on a cloud


@dataclass(frozen=True)
class PollResult:
    ok: bool
    listed: int = 0
    adopted: int = 0
    gone: int = 0
    foreign: int = 0
    error: str | None = None


def _fetch(adapter, wanted_images: list[str]) -> dict:
    return {
        "vms": adapter.list_vms(),
        "flavors": adapter.flavors(),
        "images": adapter.images(also=wanted_images),
        "keypairs": adapter.keypairs(),
        "networks": adapter.networks(),
        "security_groups": adapter.security_groups(),
        "limits": adapter.limits(),
    }


def poll_cloud(engine_or_session, group: str, cloud: str, adapter, now: datetime) -> PollResult:
    """Poll ``adapter`` (the cloud ``group``/``cloud``) and write its snapshot. Never raises for a cloud
    failure: the result (and ``poll_status``) says what happened; other clouds are unaffected.

    Given a Session, the caller commits; it should hold no uncommitted writes, because the adapter runs
    in a worker thread and the simulated cloud writes its own table there (SQLite has one writer)."""
    if isinstance(engine_or_session, Session):
        return _poll(engine_or_session, group, cloud, adapter, now)

    with session_scope(engine_or_session) as session:
        return _poll(session, group, cloud, adapter, now)


def _poll(session: Session, group: str, cloud: str, adapter, now: datetime) -> PollResult:

    # The cloud is fetched in a thread while the store's rows are read: the two waits overlap.
    wanted = wanted_images(session, group, cloud)
    with ThreadPoolExecutor(1) as pool:
        fetching = pool.submit(_fetch, adapter, wanted)
        settings = load_settings(session)
        rows = load_rows(session, group, cloud)
        try:
            snap = fetching.result()
        except Exception as err:  # any failure of this cloud marks it stale and nothing else
            message = str(err)[:500]
            write_poll_status(session, group, cloud, now, message)
            return PollResult(ok=False, error=message)
    ours, foreign = split_ours(snap["vms"], settings.deployment_id, group, cloud, settings.csv2_host_ids)
    young = now - timedelta(seconds=2 * settings.cloud_poll_interval)
    adopted, gone = write_vms(session, group, cloud, rows, ours, now, young)
    live_foreign = [v for v in foreign if v.status != VmStatus.GONE]
    write_inventory(session, group, cloud, snap, live_foreign, now)
    write_poll_status(session, group, cloud, now, None)
    return PollResult(ok=True, listed=len(ours), adopted=adopted, gone=gone, foreign=len(live_foreign))


def wanted_images(session: Session, group: str, cloud: str) -> list[str]:
    """Images this cloud's VMs may be booted from: the cloud's and the group's default and every
    ``VMImage`` of the group's queued jobs, as each names it for this cloud. An id among them is looked
    up explicitly (a public or shared image no listing shows)."""
    from sqlalchemy import select

    row, grp = session.get(Cloud, (group, cloud)), session.get(Group, group)
    names = {row.vm_image if row else None, grp.vm_image if grp else None}
    for spec in session.scalars(
        select(Job.image).where(Job.group_name == group, Job.image.is_not(None)).distinct()
    ):
        names.add(choice_for(spec, cloud))
    return sorted(n for n in names if n)


def split_ours(
    vms: list[CloudVm], deployment: str, group: str, cloud: str, csv2_host_ids: Collection[str] = ()
) -> tuple[dict[str, CloudVm], list[CloudVm]]:
    """(our VMs by vm_id, the others). A csv2 VM of ours comes back with its adopted id as its
    ``cs_vm_id`` and ``cs_adopted_from`` set, tags it does not carry on the cloud."""
    ours: dict[str, CloudVm] = {}
    foreign: list[CloudVm] = []
    for v in vms:
        t = v.tags
        if not v.vm_id and (adopted := csv2_vm_id(v, group, cloud, csv2_host_ids)):
            v = replace(v, tags={**t, TAG_VM_ID: adopted, TAG_ADOPTED_FROM: ADOPTED_FROM})
            t = {**v.tags, TAG_DEPLOYMENT: deployment, TAG_GROUP: group, TAG_CLOUD: cloud}
        if (
            v.vm_id
            and t.get(TAG_DEPLOYMENT) == deployment
            and t.get(TAG_GROUP) == group
            and t.get(TAG_CLOUD) == cloud
        ):
            # A terminated copy must not hide the live VM of the same id (EC2 lists terminated ones).
            if v.vm_id not in ours or ours[v.vm_id].status == VmStatus.GONE:
                ours[v.vm_id] = v
        else:
            foreign.append(v)
    return ours, foreign


def _values(v: CloudVm) -> dict:
    return {
        "cloud_vm_id": v.cloud_vm_id,
        "flavor": v.flavor,
        "image": v.image,
        "cores": v.cores,
        "ram_mb": v.ram_mb,
        "status": str(v.status),
        "cloud_status": v.cloud_status,
        "error": v.error,
        "ips": list(v.ips),
        "created_at": v.created_at,
        "spot": v.spot,
    }


def load_rows(session: Session, group: str, cloud: str) -> dict:
    """The cloud-side columns of this cloud's rows; ``ips`` as its JSON text, because decoding 10,000
    JSON cells costs more than the rest of the comparison."""
    cols = [getattr(Vm, c) for c in ("vm_id", "requested_at", "last_seen_at", *CLOUD_FIELDS) if c != "ips"]
    query = select(*cols, cast(Vm.ips, Text).label("ips")).where(
        Vm.group_name == group, Vm.cloud_name == cloud
    )
    return {r.vm_id: r for r in session.execute(query)}


def write_vms(
    session: Session,
    group: str,
    cloud: str,
    rows: dict,
    ours: dict[str, CloudVm],
    now: datetime,
    young: datetime,
) -> tuple[int, int]:
    inserts, updates = [], []
    for vm_id, v in ours.items():
        values = _values(v)
        row = rows.get(vm_id)
        if row is None:
            # Adopted: what the loop knew of it (its alias, its job's keep-alive) comes back from its tags.
            inserts.append(
                {
                    "vm_id": vm_id,
                    "group_name": group,
                    "cloud_name": cloud,
                    "request_id": v.tags.get(TAG_REQUEST),
                    "target_alias": v.tags.get(TAG_ALIAS) or None,
                    "keep_alive": _int(v.tags.get(TAG_KEEP_ALIVE)),
                    "adopted_from": v.tags.get(TAG_ADOPTED_FROM),
                    "requested_at": v.created_at or now,
                    "status_changed_at": now,
                    "last_seen_at": now,
                    **values,
                }
            )
            continue
        changed = {k: val for k, val in values.items() if k != "ips" and getattr(row, k) != val}
        if row.ips != json.dumps(values["ips"]):  # as SQLAlchemy stored it; a mismatch only rewrites
            changed["ips"] = values["ips"]
        if changed:
            if "status" in changed:
                changed["status_changed_at"] = now
            updates.append({"vm_id": vm_id, **changed, "last_seen_at": now})
    unlisted = [vm_id for vm_id in rows if vm_id not in ours]
    gone = [
        vm_id
        for vm_id in unlisted
        if rows[vm_id].status != VmStatus.GONE and rows[vm_id].requested_at < young
    ]
    bulk_insert(session, Vm.__table__, inserts)
    for batch in _group_by_keys(updates):
        session.execute(update(Vm), batch)
    # An unchanged VM's last_seen_at is rewritten only when it is LAST_SEEN_STEP old: rewriting every
    # listed VM on every poll was 10,000 row versions a minute at P10's size, for a column only people
    # read (when did the cloud last list it); changed rows carry it in their own update.
    step, touched = now - LAST_SEEN_STEP, {u["vm_id"] for u in updates}
    stale = [
        vm_id
        for vm_id in ours
        if vm_id in rows
        and vm_id not in touched
        and (rows[vm_id].last_seen_at is None or rows[vm_id].last_seen_at <= step)
    ]
    _mark(session, stale, last_seen_at=now)
    for i in range(0, len(gone), 5000):
        session.execute(
            update(Vm)
            .where(Vm.vm_id.in_(gone[i : i + 5000]))
            .values(status=str(VmStatus.GONE), status_changed_at=now)
        )
    return len(inserts), len(gone)


LAST_SEEN_STEP = timedelta(minutes=10)  # how fresh an unchanged VM's last_seen_at is kept


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _mark(session: Session, listed: list[str], **values) -> None:
    for i in range(0, len(listed), 5000):
        session.execute(update(Vm).where(Vm.vm_id.in_(listed[i : i + 5000])).values(**values))


def _group_by_keys(rows: list[dict]) -> list[list[dict]]:
    """Executemany needs the same keys in every row of a batch."""
    batches: dict[tuple, list[dict]] = {}
    for r in rows:
        batches.setdefault(tuple(sorted(r)), []).append(r)
    return list(batches.values())
