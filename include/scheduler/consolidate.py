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
  largest VM, so the next jobs to arrive start at once instead of waiting for a boot;
- and only if its clouds have room under every limit for what it holds back: a drained VM keeps its
  cores (and its instance) until its last job ends, maybe hours, so where the group is near its
  limits draining would hold capacity that new work then cannot get (multi-core jobs starve first);
- and only while the bucket's jobs are short next to the keep-alive: the mean age of its running jobs
  is at most ``AGE_KEEP_ALIVES`` times the VM's keep-alive. In a steady stream a running job's age and
  its remaining time share one distribution (the inspection paradox), so that age estimates how long a
  drained VM holds its free cores. A drain saves one keep-alive of the VM's cores; where jobs run for
  hours it would hold free cores for hours while new work boots elsewhere (on the belle2-day trace,
  8-core jobs then waited 5,546 s at p95 instead of 866 s).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from include.scheduler.fleet import Fleet
from include.scheduler.lifecycle import code_of
from include.scheduler.limits import Ledger, room
from include.scheduler.model import CloudConfig
from include.scheduler.policy import Policy
from include.scheduler.reasons import RetireReason as R
from include.scheduler.states import VmState

# How old, in keep-alives, the bucket's running jobs may be on average for a drain to pay. The free cores
# a drained VM holds are lost only if new work would have used them, and the reserve takes the first
# arrivals; measured on the P8 traces: 4 lets the tails of 5-20 min analysis jobs drain (their last jobs
# are 10-20 min old, 2-4 keep-alives of 300 s) and keeps 1-8 h production jobs from draining.
AGE_KEEP_ALIVES = 4


def consolidate(
    fleet: Fleet,
    label: np.ndarray,
    leaving: np.ndarray,
    view: dict[str, np.ndarray],
    wanted: np.ndarray,
    policy: Policy,
    clouds: dict[tuple[str, str], CloudConfig],
    ledger: Ledger,
    keep_alive: np.ndarray,
    now: datetime,
) -> dict[int, tuple[int, str]]:
    """Row -> (label code, detail) for the VMs to retire by attrition. ``keep_alive``: each VM's, in
    seconds (``lifecycle.keep_alive_of``)."""
    if policy.consolidate_below <= 0 or not len(fleet):
        return {}
    frozen = ~view["known"] | view["stale"] | view["pool_stale"]
    cores = fleet.col("cores").astype(np.int64)
    free = np.where(fleet.col("registered"), fleet.col("free_cores"), 0).astype(np.int64)
    busy = np.maximum(cores - free, 0)
    staying = ~leaving & ~fleet.col("manual") & fleet.state_in(VmState.IDLE, VmState.RUNNING)
    booting = ~leaving & fleet.state_in(VmState.STARTING, VmState.UNREGISTERED)
    running = staying & fleet.state_in(VmState.RUNNING)
    pickable = running & (label == 0) & (free > 0) & (100 * busy <= policy.consolidate_below * cores)
    out: dict[int, tuple[int, str]] = {}
    n = len(fleet.bucket_keys)
    calm = (np.bincount(fleet.buckets, weights=wanted | frozen | booting, minlength=n) == 0)[fleet.buckets]
    spare = np.bincount(fleet.buckets, weights=np.where(staying, free, 0), minlength=n)
    known = np.bincount(fleet.buckets, weights=np.where(running, fleet.col("claimed_known"), 0), minlength=n)
    starts = np.bincount(
        fleet.buckets, weights=np.where(running, fleet.col("claimed_start_sum"), 0), minlength=n
    )
    job_age = np.where(known > 0, now.timestamp() - starts / np.maximum(known, 1), np.inf)
    reserve = np.zeros(n, dtype=np.int64)
    np.maximum.at(reserve, fleet.buckets[staying], cores[staying])
    rows = np.flatnonzero(pickable & calm)
    if not len(rows):
        return out
    left = _headroom(fleet, clouds, ledger)
    for row in rows[np.lexsort((fleet.col("vm_id")[rows].astype(str), -free[rows], busy[rows]))]:
        b = fleet.buckets[row]
        if job_age[b] > AGE_KEEP_ALIVES * keep_alive[row]:
            continue
        if spare[b] - free[row] < reserve[b] or left[b][0] < free[row] or left[b][1] < 1:
            continue
        spare[b] -= free[row]
        left[b] = (left[b][0] - free[row], left[b][1] - 1)
        out[int(row)] = (
            code_of(R.CONSOLIDATE),
            f"{busy[row]} of {cores[row]} cores busy, no idle job for its group and alias, "
            f"{int(spare[b])} free cores stay on its other VMs, the group's jobs have run {job_age[b]:.0f} s "
            "on average: it takes no new job and leaves when its jobs end",
        )
    return out


def _headroom(
    fleet: Fleet, clouds: dict[tuple[str, str], CloudConfig], ledger: Ledger
) -> list[tuple[int, int]]:
    """Per bucket: (cores, VMs) the group may still add on the clouds its VMs can come from, under every
    limit (``limits.room`` of one core and of one VM; ``UNLIMITED`` where none is set)."""
    per_cloud: dict[tuple[str, str], tuple[int, int]] = {}
    out = []
    for group, alias in fleet.bucket_keys:
        cores = vms = 0
        for key, c in clouds.items():
            if c.group != group or not c.enabled or (alias is not None and alias not in c.aliases):
                continue
            if key not in per_cloud:
                terms = ledger.terms(c)
                per_cloud[key] = (room(terms, {"cores": 1})[0], room(terms, {"vms": 1})[0])
            cores, vms = cores + per_cloud[key][0], vms + per_cloud[key][1]
        out.append((cores, vms))
    return out
