"""Limits per cloud row, after counting every VM we have or have asked for.

cores <= min(cores_ctl, softmax - foreign cores, quota - foreign cores); RAM <= min(ram_ctl, quota -
foreign RAM); VMs <= min(max_vms, instance quota - foreign VMs); -1 = unset. Foreign usage grows by
what other rows on the same endpoint have asked for but the cloud does not list yet, and by what they
book in this plan. A second guard uses the cloud's own counters (``*_used``) plus our unlisted VMs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from include.scheduler.fleet import Fleet
from include.scheduler.model import CloudConfig
from include.scheduler.reasons import SkipReason
from include.scheduler.states import VmState, VmStatus

UNLIMITED = 1 << 62


@dataclass
class Use:
    cores: int = 0
    ram_mb: int = 0
    vms: int = 0

    def add(self, cores: int, ram_mb: int, vms: int) -> None:
        self.cores += cores
        self.ram_mb += ram_mb
        self.vms += vms


class Term(NamedTuple):
    """One limit on one resource, and how much of it is left."""

    reason: SkipReason
    resource: str  # cores | ram_mb | vms | volumes | volume_gb
    headroom: int
    detail: str
    shared: bool = False  # counts the project's other usage: other rows' boots take from it too


_INDEX = {"cores": 0, "ram_mb": 1, "vms": 2}


class Ledger:
    """Usage of every cloud row and endpoint; boots booked in this plan are added as they are made."""

    def __init__(self, clouds: list[CloudConfig], fleet: Fleet) -> None:
        self.own: dict[tuple[str, str], Use] = defaultdict(Use)  # every VM not gone, incl. retiring
        self.unlisted: dict[tuple[str, str], Use] = defaultdict(Use)  # REQUESTED: cloud counters miss them
        self.planned: dict[str, Use] = defaultdict(Use)  # per endpoint, this plan
        self.new_vms: dict[str, int] = defaultdict(int)  # starting + unregistered per endpoint
        self.unlisted_at: dict[str, Use] = defaultdict(Use)  # per endpoint
        self.planned_by_row: dict[tuple[str, str], Use] = defaultdict(Use)
        self.volumes: dict[str, Use] = defaultdict(Use)  # planned per endpoint: cores=volumes, ram=GB
        self.endpoint = {c.key: c.endpoint_key for c in clouds}
        self.rows_at = Counter(self.endpoint.values())  # cloud rows per endpoint
        self.version: dict[str, int] = defaultdict(int)  # per endpoint: bumped by every booking
        self._caps: dict[tuple[str, str], list] = {}
        self._tally(fleet)

    def _tally(self, fleet: Fleet) -> None:
        """Per cloud row: every VM not gone (retiring ones still hold quota), the unlisted ones, and
        per endpoint the VMs starting or unregistered."""
        live = ~fleet.status_in(VmStatus.GONE)
        unlisted = fleet.status_in(VmStatus.REQUESTED)
        new = live & fleet.state_in(VmState.STARTING, VmState.UNREGISTERED)
        cores, ram = fleet.col("cores"), fleet.col("ram_mb")
        n = len(fleet.keys)

        def total(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
            w = mask if weights is None else np.where(mask, weights, 0)
            return np.bincount(fleet.codes, weights=w, minlength=n).astype(np.int64)

        sums = [
            total(live, cores),
            total(live, ram),
            total(live),
            total(unlisted, cores),
            total(unlisted, ram),
            total(unlisted),
            total(new),
        ]
        for i, key in enumerate(fleet.keys):
            c, r, v, uc, ur, uv, nv = (int(x[i]) for x in sums)
            ep = self.endpoint.get(key, f"{key[0]}/{key[1]}")
            self.own[key].add(c, r, v)
            self.unlisted[key].add(uc, ur, uv)
            self.unlisted_at[ep].add(uc, ur, uv)
            self.new_vms[ep] += nv

    def terms(self, cloud: CloudConfig, with_guard: bool = True) -> list[Term]:
        """Every set limit of ``cloud`` with its headroom now (negative = over it)."""
        own = self.own[cloud.key]
        extra = self._others_at_endpoint(cloud)
        q = cloud.quota
        foreign = (q.foreign_cores + extra.cores, q.foreign_ram_mb + extra.ram_mb, q.foreign_vms + extra.vms)
        used = (own.cores, own.ram_mb, own.vms)
        ep = self.endpoint[cloud.key]
        new = _sum(self.unlisted_at[ep], self.planned[ep])
        fresh = {
            "cores": new.cores,
            "ram_mb": new.ram_mb,
            "vms": new.vms,
            "volumes": self.volumes[ep].cores,
            "volume_gb": self.volumes[ep].ram_mb,
        }
        out = []
        caps = self._caps.get(cloud.key)
        if caps is None:
            caps = self._caps[cloud.key] = _caps(cloud)
        for reason, resource, cap, against, detail in caps:
            if against == "guard":  # the cloud's counters miss only what we asked for and it does not list
                if with_guard:
                    out.append(Term(reason, resource, cap - fresh[resource], detail))
                continue
            i = _INDEX[resource]
            out.append(
                Term(
                    reason,
                    resource,
                    cap - used[i] - (foreign[i] if against == "foreign" else 0),
                    detail,
                    against == "foreign",
                )
            )
        return out

    def _others_at_endpoint(self, cloud: CloudConfig) -> Use:
        """Usage by the other rows of this endpoint that the cloud's foreign count cannot know yet."""
        ep, mine = self.endpoint[cloud.key], cloud.key
        extra = _sum(self.unlisted_at[ep], self.planned[ep])
        for use in (self.unlisted[mine], self.planned_by_row[mine]):
            extra.add(-use.cores, -use.ram_mb, -use.vms)
        return extra

    def book(self, cloud: CloudConfig, count: int, cores: int, ram_mb: int, volume_gb: int) -> None:
        ep = self.endpoint[cloud.key]
        for use in (self.own[cloud.key], self.planned[ep], self.planned_by_row[cloud.key]):
            use.add(count * cores, count * ram_mb, count)
        self.new_vms[ep] += count
        self.version[ep] += 1
        self.volumes[ep].add(count if volume_gb else 0, count * volume_gb, 0)


def room(terms: list[Term], per_vm: dict[str, int]) -> tuple[int, Term | None]:
    """How many VMs fit under every term, and the binding term (None: unlimited)."""
    best, binding = UNLIMITED, None
    for t in terms:
        need = per_vm.get(t.resource, 0)
        if need <= 0:
            continue
        n = max(0, t.headroom // need)
        if n < best:
            best, binding = n, t
    return best, binding


def _sum(a: Use, b: Use) -> Use:
    return Use(a.cores + b.cores, a.ram_mb + b.ram_mb, a.vms + b.vms)


def _caps(cloud: CloudConfig) -> list[tuple[SkipReason, str, int, str, str]]:
    """The limits set on a cloud row: (reason, resource, cap, counted against, detail). ``own``: our VMs
    on the row; ``foreign``: ours plus foreign usage; ``guard``: the cloud's own usage counter (its cap
    already reduced by it) against what it cannot know yet."""
    lim, q = cloud.limits, cloud.quota
    caps = [
        (SkipReason.CORES_CTL, "cores", lim.cores_ctl, "own", "cores_ctl"),
        (SkipReason.SOFTMAX, "cores", lim.cores_softmax, "foreign", "cores soft-max"),
        (SkipReason.QUOTA, "cores", q.cores_max, "foreign", "cores quota"),
        (SkipReason.RAM_CTL, "ram_mb", lim.ram_ctl, "own", "ram_ctl"),
        (SkipReason.QUOTA, "ram_mb", q.ram_max_mb, "foreign", "RAM quota"),
        (SkipReason.MAX_VMS, "vms", lim.max_vms, "own", "max_vms"),
        (SkipReason.QUOTA, "vms", q.instances_max, "foreign", "instance quota"),
        (SkipReason.QUOTA, "cores", _less(q.cores_max, q.cores_used), "guard", "cores quota (cloud)"),
        (SkipReason.QUOTA, "ram_mb", _less(q.ram_max_mb, q.ram_used_mb), "guard", "RAM quota (cloud)"),
        (SkipReason.QUOTA, "vms", _less(q.instances_max, q.instances_used), "guard", "instances (cloud)"),
    ]
    if cloud.boot_volume is not None:
        caps += [
            (SkipReason.QUOTA, "volumes", _less(q.volumes_max, q.volumes_used), "guard", "volumes"),
            (SkipReason.QUOTA, "volume_gb", _less(q.volume_gb_max, q.volume_gb_used), "guard", "volume GB"),
        ]
    return [
        (r, res, int(cap), against, d)
        for r, res, cap, against, d in caps
        if cap is not None and (cap >= 0 or against == "guard")  # -1 = unset; a guard below 0 = over
    ]


def _less(cap: int, used: int) -> int | None:
    return None if cap is None or cap < 0 else cap - used
