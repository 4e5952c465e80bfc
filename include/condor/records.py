"""The pool protocol, the records it returns and the errors it raises.

Everything here is plain Python: DAG files import this package at parse time, and only the adapter
functions import ``htcondor2``/``classad2``. A record's fields are exactly the columns of the store table
it becomes (``jobs``, ``machines``), in order, so the poller compares and writes them without mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = [
    "GroupSpec",
    "JobDefaults",
    "JobRecord",
    "MachineNotFound",
    "MachineRecord",
    "Pool",
    "PoolError",
    "PoolSpec",
    "PoolUnreachable",
    "RetireHow",
    "RetireResult",
    "ScheddJobs",
]


class PoolError(Exception):
    """A pool call failed; ``part`` names what: ``collector`` or ``schedd:<name>``."""

    def __init__(self, pool: str, part: str, message: str):
        super().__init__(f"pool {pool} {part}: {message}")
        self.pool, self.part, self.message = pool, part, message

    def __reduce__(self):  # crosses process boundaries (parallel schedd queries) intact
        return type(self), (self.pool, self.part, self.message)


class PoolUnreachable(PoolError):
    """A collector or schedd did not answer (refused, timed out, failed to authenticate).

    The poller turns it into a stale part of the snapshot; it must never read as "no jobs"."""


class MachineNotFound(PoolError):
    """The collector has no master or startd ad for that machine: it already left the pool."""


class DrainRefused(PoolError):
    """We would not drain that startd: its slots give running jobs no retirement time
    (``MaxJobRetirementTime`` unset or 0), so a graceful drain would evict them at once."""


class RetireHow(StrEnum):
    PEACEFUL = "peaceful"  # DaemonsOffPeaceful to the master: running jobs finish, then the node stops
    DRAIN = "drain"  # graceful drain of the startd, exit on completion (condor_drain -exit-on-completion)


@dataclass(frozen=True)
class RetireResult:
    machine: str
    sent: RetireHow  # what actually went out (PEACEFUL may fall back to DRAIN)
    detail: str = ""


class JobDefaults(NamedTuple):
    """A group's job defaults, applied to whatever a job ad does not state (csv2 job_cpus etc.)."""

    cores: int = 1
    ram_mb: int = 1000
    disk_gb: float = 5.0
    swap_gb: float = 0.0


class JobRecord(NamedTuple):
    """One job ad, normalised; the columns of ``jobs``. ``group_name`` is the group named in the job's
    Requirements until the poller classifies it (None = foreign)."""

    pool: str
    global_job_id: str
    schedd: str
    group_name: str | None
    target_alias: str | None
    owner: str
    status: int
    cores: int
    ram_mb: int
    disk_gb: float
    swap_gb: float
    image: str | None
    instance_type: str | None
    network: str | None
    keep_alive: int | None
    max_price: float | None
    user_data: str | None
    priority: int
    q_date: datetime | None
    entered_status_at: datetime | None
    hold_reason: str | None
    remote_host: str | None
    vm_id: str | None
    rejected_at: datetime | None = None  # the negotiator's last "no match found" (LastRejMatchTime)


class MachineRecord(NamedTuple):
    """One startd slot ad, normalised; the columns of ``machines``. ``vm_id`` is None when not ours."""

    pool: str
    name: str
    machine: str
    vm_id: str | None
    group_name: str | None
    cloud_name: str | None
    flavor: str | None
    target_alias: str | None
    slot_type: str
    state: str
    activity: str
    cores: int
    memory_mb: int
    total_cores: int
    total_memory_mb: int
    entered_state_at: datetime | None
    remote_owner: str | None
    global_job_id: str | None
    retiring: bool
    drain_reason: str | None = None  # who drains it: "Defrag <name>" (condor_defrag), "by <user>", ours


@dataclass(frozen=True)
class ScheddJobs:
    """The outcome of one schedd's query: its jobs, or the error that makes that part stale."""

    schedd: str
    jobs: list[JobRecord] = field(default_factory=list)
    error: PoolError | None = None
    skipped: int = 0  # ads too malformed to read (no GlobalJobId or JobStatus)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class GroupSpec:
    """What the poller needs of one group served by a pool."""

    name: str
    schedds: tuple[str, ...] = ()  # empty: every schedd of the pool
    other_submitters: tuple[str, ...] = ()  # "ALL" admits any owner
    members: tuple[str, ...] = ()
    defaults: JobDefaults = JobDefaults()

    def serves(self, schedd: str) -> bool:
        return not self.schedds or schedd in self.schedds

    def admits(self, owner: str) -> bool:
        if not self.other_submitters and not self.members:
            return True  # no submitter restriction configured
        return "ALL" in self.other_submitters or owner in self.other_submitters or owner in self.members


@dataclass(frozen=True)
class PoolSpec:
    """One pool and the groups it serves. ``key`` names it in the store (``jobs.pool``, ``machines.pool``);
    ``address`` is where to connect (the container hostname when the group sets one)."""

    key: str
    kind: str  # htcondor | simulated
    address: str | None
    groups: tuple[GroupSpec, ...]
    deployment: str = "cs"

    @property
    def schedds(self) -> tuple[str, ...]:
        """The schedds to query; empty means every schedd the collector knows."""
        if any(not g.schedds for g in self.groups):
            return ()
        return tuple(sorted({s for g in self.groups for s in g.schedds}))

    @property
    def defaults(self) -> Mapping[str, JobDefaults]:
        return {g.name: g.defaults for g in self.groups}


@runtime_checkable
class Pool(Protocol):
    """One HTCondor pool, real or simulated; the poller and the control loop cannot tell them apart."""

    spec: PoolSpec

    def jobs(self) -> Sequence[ScheddJobs]:
        """Jobs of every schedd to poll, one outcome each. Raises PoolUnreachable only when the schedds
        themselves cannot be listed (the collector is down and none is configured)."""
        ...

    def machines(self) -> list[MachineRecord]:
        """Every startd slot ad of the collector. Raises PoolUnreachable."""
        ...

    def retire(self, machine: str, how: RetireHow = RetireHow.PEACEFUL) -> RetireResult:
        """Ask the VM ``machine`` (the startd's ``Machine``) to finish its jobs and leave the pool.
        Raises MachineNotFound when it already left, PoolUnreachable when it cannot be told."""
        ...

    def drain(self, machine: str, reason: str) -> bool:
        """Drain the startd gracefully, resuming when its jobs are done: it takes no new job while its
        running ones finish. ``reason`` becomes its DrainReason. False when it already drains (ours or
        anyone's): the call is safe to repeat. Raises MachineNotFound, PoolUnreachable."""
        ...

    def undrain(self, machine: str, ours: str) -> bool:
        """Cancel the startd's drain if its DrainReason starts with ``ours``; never another's (an
        administrator's, condor_defrag's). False when there was none of ours to cancel. Raises
        MachineNotFound, PoolUnreachable."""
        ...

    def forget(self, machine: str) -> None:
        """Invalidate the master and startd ads of a machine whose VM is gone."""
        ...
