"""Consolidation by attrition. HTCondor jobs cannot move, so where Karpenter evicts pods to empty a node
we steer instead: when a (group, alias) bucket has no idle job waiting and more free cores than it needs
in reserve, its least-filled running VMs are retired peacefully. A retired startd takes no new job, its
running jobs finish undisturbed, and it leaves the pool (and is deleted) the moment its last job ends,
instead of taking in a trickle of new work that keeps most of its cores idle, then sitting out its
keep-alive. New jobs go to the fuller VMs that stay (the pool's best-fit rank does that).

The rule, per bucket (COBalD/TARDIS drain on low utilisation; this drains only what the reserve spares):
- nothing happens while the bucket has idle demand it could take (``wanted``), its cloud or pool is
  stale, or a VM of it is booting (demand came recently: the boot was for it);
- candidates are running VMs with free cores, at most ``consolidate_below`` percent of their cores busy,
  that no other rule acts on; the least filled go first (fewest busy cores, then most free);
- a candidate goes only if the bucket keeps a reserve of free cores on VMs that stay: the cores of its
  largest VM, so the next jobs to arrive start at once instead of waiting for a boot.
"""

from __future__ import annotations

import numpy as np

from include.scheduler.fleet import Fleet
from include.scheduler.lifecycle import code_of
from include.scheduler.policy import Policy
from include.scheduler.reasons import RetireReason as R
from include.scheduler.states import VmState


def consolidate(
    fleet: Fleet,
    label: np.ndarray,
    leaving: np.ndarray,
    view: dict[str, np.ndarray],
    wanted: np.ndarray,
    policy: Policy,
) -> dict[int, tuple[int, str]]:
    """Row -> (label code, detail) for the VMs to retire by attrition."""
    if policy.consolidate_below <= 0 or not len(fleet):
        return {}
    frozen = ~view["known"] | view["stale"] | view["pool_stale"]
    cores = fleet.col("cores").astype(np.int64)
    free = np.where(fleet.col("registered"), fleet.col("free_cores"), 0).astype(np.int64)
    busy = np.maximum(cores - free, 0)
    staying = ~leaving & ~fleet.col("manual") & fleet.state_in(VmState.IDLE, VmState.RUNNING)
    booting = ~leaving & fleet.state_in(VmState.STARTING, VmState.UNREGISTERED)
    pickable = (
        staying
        & fleet.state_in(VmState.RUNNING)
        & (label == 0)
        & (free > 0)
        & (100 * busy <= policy.consolidate_below * cores)
    )
    out: dict[int, tuple[int, str]] = {}
    n = len(fleet.bucket_keys)
    calm = (np.bincount(fleet.buckets, weights=wanted | frozen | booting, minlength=n) == 0)[fleet.buckets]
    spare = np.bincount(fleet.buckets, weights=np.where(staying, free, 0), minlength=n)
    reserve = np.zeros(n, dtype=np.int64)
    np.maximum.at(reserve, fleet.buckets[staying], cores[staying])
    rows = np.flatnonzero(pickable & calm)
    for row in rows[np.lexsort((fleet.col("vm_id")[rows].astype(str), -free[rows], busy[rows]))]:
        b = fleet.buckets[row]
        if spare[b] - free[row] < reserve[b]:
            continue
        spare[b] -= free[row]
        out[int(row)] = (
            code_of(R.CONSOLIDATE),
            f"{busy[row]} of {cores[row]} cores busy, no idle job for its group and alias, "
            f"{int(spare[b])} free cores stay on its other VMs: it takes no new job and leaves when its "
            "jobs end",
        )
    return out
