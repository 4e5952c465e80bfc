"""The operator's numbered VM actions, as pure functions for the CLI and the plugin (csv2 4.6):
``kill N`` (delete the N least valuable VMs now), ``retire N`` (retire the N least valuable registered
VMs), ``retain N`` (retire all but the N most valuable). Each returns vm_ids, least valuable first;
the caller records them as intents (``include.store.intents.request_vm_action``).

Manual VMs, VMs already going away and VMs of frozen clouds are never picked.
"""

from __future__ import annotations

import numpy as np

from include.scheduler.fleet import Fleet, derive
from include.scheduler.model import Snapshot
from include.scheduler.states import VmStatus
from include.scheduler.tables import SLOT_COLUMNS, VM_COLUMNS, normalized
from include.scheduler.value import least_valuable_first


def kill_n(snapshot: Snapshot, n: int, *, group: str, cloud: str | None = None) -> list[str]:
    fleet, rows = _candidates(snapshot, group, cloud)
    rows = rows[np.isnan(fleet.col("kill_requested_at")[rows])]
    return _ids(fleet, least_valuable_first(fleet, rows)[: max(n, 0)])


def retire_n(snapshot: Snapshot, n: int, *, group: str, cloud: str | None = None) -> list[str]:
    fleet, rows = _candidates(snapshot, group, cloud)
    rows = rows[fleet.col("registered")[rows] & ~_retiring(fleet)[rows]]
    return _ids(fleet, least_valuable_first(fleet, rows)[: max(n, 0)])


def retain_n(snapshot: Snapshot, n: int, *, group: str, cloud: str | None = None) -> list[str]:
    fleet, rows = _candidates(snapshot, group, cloud)
    rows = rows[~_retiring(fleet)[rows]]
    ordered = least_valuable_first(fleet, rows)
    return _ids(fleet, ordered[: max(len(ordered) - max(n, 0), 0)])


def _candidates(snapshot: Snapshot, group: str, cloud: str | None) -> tuple[Fleet, np.ndarray]:
    fleet = derive(normalized(snapshot.vms, VM_COLUMNS), normalized(snapshot.slots, SLOT_COLUMNS))
    frozen = {c.name for c in snapshot.clouds if c.group == group and c.stale}
    mask = (
        (fleet.col("group") == group)
        & ~fleet.col("manual")
        & ~fleet.status_in(VmStatus.GONE, VmStatus.DELETING)
        & ~np.isin(fleet.col("cloud"), list(frozen))
    )
    if cloud is not None:
        mask &= fleet.col("cloud") == cloud
    return fleet, np.flatnonzero(mask)


def _retiring(fleet: Fleet) -> np.ndarray:
    return ~np.isnan(fleet.col("retire_requested_at")) | fleet.col("slot_retiring")


def _ids(fleet: Fleet, rows: np.ndarray) -> list[str]:
    return [str(v) for v in fleet.col("vm_id")[rows]]
