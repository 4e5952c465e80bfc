"""The words both worlds share: a VM's status as its cloud reports it (``VmStatus``, which the cloud
adapters translate into), and its derived state over (cloud status x pool status) (``VmState``).

Derived state, first match wins (csv2 2.5): manual -> error -> retiring -> starting -> unregistered
(active, no startd yet) -> idle (registered, no job) -> running. One change from csv2: a VM whose
startd is in the pool is never "starting", whatever its cloud status says. Clouds are polled every
60 s and the pool every 15 s, so a VM often runs a job before its cloud status catches up; counted as
starting, it would be supply for idle jobs twice (once by its booting, once by the job it runs) and
delay the boot of the next job by a poll (bench/README.md, P3).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class VmStatus(StrEnum):
    """Cloud-side status, normalised by each adapter."""

    REQUESTED = "requested"  # our intent is written; the cloud has not confirmed the VM yet
    BUILDING = "building"
    ACTIVE = "active"
    ERROR = "error"
    DELETING = "deleting"
    GONE = "gone"  # the cloud no longer lists it (deleted, terminated, spot-interrupted)
    UNKNOWN = "unknown"


class JobStatus(IntEnum):
    """HTCondor's JobStatus codes, as the pool reports them."""

    IDLE = 1
    RUNNING = 2
    REMOVED = 3
    COMPLETED = 4
    HELD = 5


class VmState(StrEnum):
    MANUAL = "manual"
    ERROR = "error"
    RETIRING = "retiring"
    STARTING = "starting"
    UNREGISTERED = "unregistered"
    IDLE = "idle"
    RUNNING = "running"
    GONE = "gone"


def vm_state(*, status: str, manual: bool, retiring: bool, registered: bool, busy: bool) -> VmState:
    """Derive the lifecycle state of one VM.

    ``retiring``: a retire was requested (by the loop or an operator) or the startd reports it;
    ``registered``: at least one startd slot of the VM is in the pool; ``busy``: a slot runs a job.
    """
    if status == VmStatus.GONE:
        return VmState.GONE
    if manual:
        return VmState.MANUAL
    if status == VmStatus.ERROR:
        return VmState.ERROR
    if retiring:
        return VmState.RETIRING
    if status in (VmStatus.REQUESTED, VmStatus.BUILDING, VmStatus.UNKNOWN) and not registered:
        return VmState.STARTING
    if not registered:
        return VmState.UNREGISTERED
    return VmState.RUNNING if busy else VmState.IDLE
