"""Small builders for planner tests: a snapshot from a few readable lines.

snap = snapshot(clouds=[cloud("c1", cores_max=64)], jobs=idle_jobs(cores=8, n=40),
                vms=[vm("v1", state="idle", idle_for=600)])
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from include.scheduler.model import (
    Backoff,
    CloudConfig,
    Flavor,
    GroupConfig,
    JobDefaults,
    Limits,
    Quota,
    Snapshot,
    VmSettings,
)
from include.scheduler.policy import Policy
from include.scheduler.tables import jobs_frame, slots_frame, vms_frame

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = Policy()
IMAGE = "cernvm"
FLAVORS = (
    Flavor("c2", 2, 4000, disk_gb=20),
    Flavor("c4", 4, 8000, disk_gb=40),
    Flavor("c8", 8, 16000, disk_gb=80),
    Flavor("c16", 16, 32000, disk_gb=160),
)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def group(
    name: str = "atlas", *, keep_alive: int | None = 300, submitters=("ALL",), members=(), **kw: Any
) -> GroupConfig:
    vm = kw.pop("vm", VmSettings(keep_alive=keep_alive))
    return GroupConfig(
        name,
        vm=vm,
        other_submitters=frozenset(submitters),
        members=frozenset(members),
        job_defaults=kw.pop("job_defaults", JobDefaults()),
        **kw,
    )


def cloud(
    name: str = "c1",
    group: str = "atlas",
    *,
    flavors=FLAVORS,
    images=(IMAGE,),
    image: str | None = IMAGE,
    flavor: str | None = None,
    keep_alive: int | None = None,
    aliases=(),
    limits: Limits | None = None,
    quota: Quota | None = None,
    **kw: Any,
) -> CloudConfig:
    return CloudConfig(
        group,
        name,
        flavors=tuple(flavors),
        images=frozenset(images),
        vm=VmSettings(image=image, flavor=flavor, keep_alive=keep_alive),
        aliases=frozenset(aliases),
        limits=limits or Limits(),
        quota=quota or Quota(),
        last_poll_at=kw.pop("last_poll_at", NOW),
        **kw,
    )


def idle_jobs(
    n: int = 1,
    *,
    cores: float = 8,
    ram_mb: float = 16000,
    group: str | None = "atlas",
    owner: str = "alice",
    status: int = 1,
    **kw: Any,
) -> list[dict]:
    row = {
        "group": group,
        "owner": owner,
        "status": status,
        "cores": cores,
        "ram_mb": ram_mb,
        "disk_gb": kw.pop("disk_gb", 10.0),
        "swap_gb": kw.pop("swap_gb", 0.0),
        "q_date": ago(600),
        **kw,
    }
    return [dict(row) for _ in range(n)]


def running_jobs(n: int = 1, **kw: Any) -> list[dict]:
    return idle_jobs(n, status=2, **kw)


def vm(
    vm_id: str,
    *,
    state: str = "running",
    cloud: str = "c1",
    group: str = "atlas",
    cores: int = 8,
    ram_mb: int = 16000,
    age: float = 7200,
    idle_for: float = 60,
    busy_for: float = 600,
    free_cores: int | None = None,
    **kw: Any,
) -> tuple[dict, list[dict]]:
    """One VM of ours and its startd slots. ``state``: requested | starting | unregistered | fresh
    (registered, never ran a job) | idle (ran jobs, now unclaimed) | running | error | gone."""
    status = {"requested": "requested", "starting": "building", "error": "error", "gone": "gone"}.get(
        state, "active"
    )
    row = {
        "vm_id": vm_id,
        "group": group,
        "cloud": cloud,
        "flavor": f"c{cores}",
        "cores": cores,
        "ram_mb": ram_mb,
        "status": status,
        "requested_at": ago(age),
        "created_at": ago(age - 30),
        "status_changed_at": ago(age - 30),
    }
    slots: list[dict] = []
    if state in ("fresh", "idle", "running"):
        row["registered_at"] = ago(age - 120)
        row["slots_changed_at"] = ago(idle_for if state != "running" else busy_for)
        free = cores if state != "running" else (free_cores or 0)
        slots.append(
            {
                "vm_id": vm_id,
                "slot_type": "Partitionable",
                "state": "Unclaimed",
                "cores": free,
                "memory_mb": ram_mb * free // cores,
                "entered_state_at": ago(age - 120),
            }
        )
    if state in ("idle", "running"):
        row["first_job_at"] = ago(age - 100)
    if state == "running":
        slots.append(
            {
                "vm_id": vm_id,
                "slot_type": "Dynamic",
                "state": "Claimed",
                "activity": "Busy",
                "cores": cores - (free_cores or 0),
                "memory_mb": ram_mb,
                "entered_state_at": ago(busy_for),
            }
        )
    row.update(kw)
    return row, slots


def drained_slots(
    vm_id: str,
    *,
    reason: str,
    free_cores: int,
    jobs: tuple[int, ...] = (),
    drained_for: float = 600,
    job_age: float = 20_000,
    mb_per_core: int = 2000,
) -> list[dict]:
    """The slot rows the pool poller makes of a drained VM's ads (parsed by its own ``machine_record``):
    the partitionable slot Drained with ``free_cores`` (Retiring while jobs run, Idle once none does),
    its DrainReason, and one claimed dynamic slot per running job of ``jobs`` cores. Pass them as
    ``extra_slots`` beside the VM's row."""
    import classad2

    from include.condor.classads import machine_record

    host = f"{vm_id}.cloud.example.org"
    common = {"Machine": host, "cs_vm_id": vm_id, "DrainReason": reason}
    ads = [
        {
            **common,
            "Name": f"slot1@{host}",
            "SlotType": "Partitionable",
            "State": "Drained",
            "Activity": "Retiring" if jobs else "Idle",
            "Draining": True,
            "Cpus": free_cores,
            "Memory": free_cores * mb_per_core,
            "EnteredCurrentState": int((ago(drained_for)).timestamp()),
        }
    ]
    for i, cores in enumerate(jobs, start=1):
        ads.append(
            {
                **common,
                "Name": f"slot1_{i}@{host}",
                "SlotType": "Dynamic",
                "State": "Claimed",
                "Activity": "Retiring",
                "Cpus": cores,
                "Memory": cores * mb_per_core,
                "EnteredCurrentState": int((ago(job_age)).timestamp()),
            }
        )
    records = [machine_record(classad2.ClassAd(ad), pool="p", deployment="cs") for ad in ads]
    keys = ("vm_id", "slot_type", "state", "activity", "cores", "memory_mb", "entered_state_at", "retiring")
    return [{k: getattr(r, k) for k in (*keys, "drain_reason")} for r in records]


def snapshot(*, groups=None, clouds=None, jobs=(), vms=(), backoffs=(), extra_slots=()) -> Snapshot:
    return Snapshot(
        groups=tuple(groups if groups is not None else [group()]),
        clouds=tuple(clouds if clouds is not None else [cloud()]),
        jobs=jobs_frame(jobs),
        vms=vms_frame([v for v, _ in vms]),
        slots=slots_frame([s for _, ss in vms for s in ss] + list(extra_slots)),
        backoffs=tuple(backoffs),
    )


def backoff(
    cloud: str = "c1",
    flavor: str = "",
    *,
    until: datetime | None = None,
    disabled: bool = False,
    group: str = "atlas",
) -> Backoff:
    return Backoff(group, cloud, flavor, failures=3 if disabled else 1, until=until, disabled=disabled)


def with_cloud(snap: Snapshot, name: str, **changes: Any) -> Snapshot:
    return replace(snap, clouds=tuple(replace(c, **changes) if c.name == name else c for c in snap.clouds))


LOOSE = Policy(max_boot_per_cycle=1000, new_vms_throttle=1000)  # limits, not throttles, decide


def booted(result) -> dict[str, tuple[str, int]]:
    """cloud -> (flavor, VMs) of a plan's boots."""
    return {b.cloud: (b.flavor, b.count) for b in result.boots}


def demand_skip(result, group: str = "atlas"):
    """The one demand skip of a plan (fails if there is not exactly one)."""
    (skip,) = [s for s in result.skips if s.group == group and s.jobs > 0]
    return skip
