"""The planner's output: what the act step must do, and why nothing else was done."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from include.scheduler.reasons import DeleteReason, RetireReason, SkipReason


@dataclass(frozen=True)
class Served:
    """One demand shape a boot serves, and how many of its idle jobs the booted VMs will hold."""

    shape: str
    jobs: int


@dataclass(frozen=True)
class Boot:
    request_id: str  # deterministic: a retried act step finds the VMs it already made
    group: str
    cloud: str
    flavor: str
    image: str
    count: int
    vm_ids: tuple[str, ...]  # f"{request_id}-{i}", i = 1..count: the VM names and the startd's id
    cores: int  # per VM, from the flavor
    ram_mb: int
    target_alias: str | None
    keep_alive: int | None  # the job's VMKeepAlive; None = the cloud's/group's, applied live
    keyname: str | None
    network: str | None
    security_groups: tuple[str, ...]
    spot_price: float | None  # None = on demand
    owners: tuple[str, ...]  # job owners the VMs are for (the startd's START expression)
    user_data: str | None  # the jobs' VMUserData, passed through
    serves: tuple[Served, ...]


@dataclass(frozen=True)
class Retire:
    vm_id: str
    group: str
    cloud: str
    reason: RetireReason
    resend: bool = False  # a re-send of a retire already sent retire_count times
    detail: str = ""


@dataclass(frozen=True)
class Delete:
    vm_id: str
    group: str
    cloud: str
    reason: DeleteReason
    count_as_boot_failure: bool = False  # back off this (cloud, flavor)
    alert: bool = False  # an operator should look (retire never answered)
    detail: str = ""


@dataclass(frozen=True)
class Drain:
    """Drain a running VM's startd (graceful, resume when its jobs are done): it takes no new job, so
    the cores its jobs free gather for a waiting multi-core job (``room.py``)."""

    vm_id: str
    group: str
    cloud: str
    cores: int  # the cores it gathers, for the job that waits
    reason: str  # the startd's DrainReason; it starts ``fleet.ROOM_DRAIN``: how a later poll knows it ours
    detail: str = ""


@dataclass(frozen=True)
class Undrain:
    """End our drain of a VM: its cores are free for the job that waited, or no job needs them now."""

    vm_id: str
    group: str
    cloud: str
    detail: str = ""


@dataclass(frozen=True)
class Skip:
    group: str
    cloud: str | None
    subject: str  # a demand shape key, a vm_id, or "cloud:<name>"
    reason: SkipReason
    jobs: int = 0  # idle jobs left unserved
    detail: str = ""
    alert: bool = False


@dataclass(frozen=True)
class Plan:
    boots: tuple[Boot, ...] = ()
    retires: tuple[Retire, ...] = ()
    deletes: tuple[Delete, ...] = ()
    skips: tuple[Skip, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict, compare=False)  # counts for the UI and logs
    unmatched: tuple[
        Any, ...
    ] = ()  # every job set aside now (scheduler.unmatched.Unmatched): the loop keeps them
    drains: tuple[Drain, ...] = ()
    undrains: tuple[Undrain, ...] = ()

    def summary(self) -> dict[str, Any]:
        """Counts by kind and reason: what the UI shows as "why nothing booted"."""
        return {
            "boots": len(self.boots),
            "vms_booted": sum(b.count for b in self.boots),
            "retires": dict(sorted(Counter(r.reason.value for r in self.retires).items())),
            "deletes": dict(sorted(Counter(d.reason.value for d in self.deletes).items())),
            "drains": len(self.drains),
            "undrains": len(self.undrains),
            "skips": dict(sorted(Counter(s.reason.value for s in self.skips).items())),
            "unserved_jobs": dict(sorted(_jobs_by_reason(self.skips).items())),
            **self.stats,
        }

    def why_not_booted(self, group: str) -> list[Skip]:
        """The demand skips of one group, most idle jobs first."""
        skips = [s for s in self.skips if s.group == group and s.jobs > 0]
        return sorted(skips, key=lambda s: (-s.jobs, s.subject))


def _jobs_by_reason(skips: tuple[Skip, ...]) -> Counter[str]:
    out: Counter[str] = Counter()
    for s in skips:
        out[s.reason.value] += s.jobs
    return out
