"""Supply already there or on its way, counted in job slots: free capacity of registered startds
(a partitionable slot's unclaimed cores and memory) and the whole flavor of VMs still booting.

Shapes take supply in order (highest job priority, then oldest), one (group, alias) bucket at a time;
jobs without an alias may also use the leftovers of the group's other aliases (their Requirements
name only the group). Each VM is a bin; a shape takes ``min(free cores // cores, free RAM // RAM)``
jobs from each bin until its jobs are covered.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import numpy as np
import pandas as pd

from include.scheduler.demand import Shape
from include.scheduler.fleet import Fleet
from include.scheduler.policy import Policy
from include.scheduler.states import VmState


class Bins:
    """Free (cores, RAM) per VM of one (group, alias) supply bucket."""

    def __init__(self, cores: np.ndarray, ram: np.ndarray) -> None:
        order = np.lexsort((ram, cores))  # identical bins are interchangeable: order by size only
        self.cores, self.ram = cores[order].astype(np.int64), ram[order].astype(np.int64)

    def take(self, cores: int, ram: int, jobs: int) -> int:
        """Place up to ``jobs`` jobs of this size; returns how many found room."""
        if jobs <= 0 or not len(self.cores) or self.cores.max() < cores:
            return 0
        fits = np.minimum(self.cores // max(cores, 1), self.ram // max(ram, 1))
        total = np.cumsum(fits)
        if total[-1] <= jobs:
            placed = fits
        else:
            cut = int(np.searchsorted(total, jobs))  # bins before cut are filled; cut takes the rest
            placed = np.zeros_like(fits)
            placed[:cut] = fits[:cut]
            placed[cut] = jobs - (total[cut - 1] if cut else 0)
        self.cores -= placed * cores
        self.ram -= placed * ram
        return int(placed.sum())


def late_to_register(fleet: Fleet, policy: Policy, now: datetime) -> np.ndarray:
    """VMs still booting long after their cloud's VMs usually register: no longer counted as coming
    capacity, so their jobs may get a VM elsewhere instead of waiting up to ``vm_come_alive`` (2 h) for
    the come-alive rule to delete them (it still does). Late = older than twice the 90th percentile of
    request-to-registration of the cloud's registered VMs, and never sooner than ``vm_register_late``
    (Karpenter's registration timeout is a fixed 15 minutes; ours learns from the cloud)."""
    booting = fleet.state_in(VmState.STARTING, VmState.UNREGISTERED)
    if not booting.any():
        return booting
    took = fleet.col("registered_since") - fleet.col("requested_at")
    known = ~np.isnan(took) & (took >= 0)
    usual = np.zeros(len(fleet.keys))
    if known.any():
        per_cloud = pd.Series(took[known]).groupby(fleet.codes[known]).quantile(0.9)
        usual[per_cloud.index.to_numpy()] = per_cloud.to_numpy()
    late_after = np.minimum(np.maximum(2 * usual, policy.vm_register_late), policy.vm_come_alive)
    return booting & (now.timestamp() - fleet.col("requested_at") > late_after[fleet.codes])


def supply_buckets(fleet: Fleet, leaving: np.ndarray) -> dict[tuple[str, str | None], Bins]:
    """Bins per (group, alias) from VMs that stay: registered free capacity, booting VMs whole.
    ``leaving``: VMs not to count (going away, or late to register)."""
    booting = fleet.state_in(VmState.STARTING, VmState.UNREGISTERED)
    usable = ~leaving & (booting | fleet.state_in(VmState.IDLE, VmState.RUNNING, VmState.MANUAL))
    registered = fleet.col("registered")
    cores = np.where(booting, fleet.col("cores"), np.where(registered, fleet.col("free_cores"), 0))
    ram = np.where(booting, fleet.col("ram_mb"), np.where(registered, fleet.col("free_mem"), 0))
    keep = np.flatnonzero(usable & (cores > 0) & (ram > 0))
    by_bucket = np.argsort(fleet.buckets[keep], kind="stable")
    keep = keep[by_bucket]
    bounds = np.flatnonzero(np.diff(fleet.buckets[keep])) + 1
    return {
        fleet.bucket_keys[fleet.buckets[rows[0]]]: Bins(cores[rows], ram[rows])
        for rows in np.split(keep, bounds)
        if len(rows)
    }


def cover(shapes: list[Shape], buckets: dict[tuple[str, str | None], Bins]) -> dict[Shape, int]:
    """Jobs of each shape that existing or booting VMs will hold."""
    covered: dict[Shape, int] = defaultdict(int)
    order = sorted(shapes, key=supply_order)
    for s in order:
        bucket = buckets.get((s.group, s.alias))
        if bucket is not None:
            covered[s] += bucket.take(s.cores, s.ram_mb, s.jobs)
    aliased: dict[str, list[Bins]] = defaultdict(list)
    for (group, alias), bucket in sorted(buckets.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        if alias is not None:
            aliased[group].append(bucket)
    for s in order:  # alias-free jobs run on any VM of their group
        for bucket in aliased.get(s.group, ()) if s.alias is None else ():
            if covered[s] >= s.jobs:
                break
            covered[s] += bucket.take(s.cores, s.ram_mb, s.jobs - covered[s])
    return covered


def supply_order(s: Shape) -> tuple:
    oldest = s.oldest.timestamp() if s.oldest else float("inf")
    return (s.group, -s.priority, oldest, s.key)
