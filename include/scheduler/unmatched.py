"""Jobs whose Requirements exclude our VMs: set aside, so they drive no boot and keep no VM alive.

The pool already matched both sides (the job's Requirements, the startd's START) and said so: the
schedd notes the negotiator's "no match found" on the job (``LastRejMatchTime``; ``rejected_at``). A
rejection later than the moment an idle VM of ours that fits the job (its group and alias, cores and
memory, and booted for the job's owner: a START that admits only those owners refuses the others) went
idle means that VM was free for the job and was refused. More VMs like it would be refused
too: booting them, or keeping that one for the job, is waste (a GPU job beside CPU flavours kept an idle
VM alive for hours).

Such a job is *set aside* for ``job_unmatched_recheck`` seconds, whatever happens to that VM meanwhile
(the mark is kept across runs by the loop): no boots, no keep-alive, a skip reason the status page
shows. Then it counts once more, so a flavour the site adds or a job the user edits is noticed: at most
one VM per recheck interval for a job nothing of ours can run. A job set aside still runs wherever the
pool matches it: it only stops asking for VMs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from include.scheduler.actions import Skip
from include.scheduler.fleet import Fleet
from include.scheduler.model import GroupConfig
from include.scheduler.reasons import SkipReason
from include.scheduler.states import JobStatus, VmState
from include.scheduler.tables import seconds


@dataclass(frozen=True)
class Unmatched:
    group: str
    job_id: str
    since: datetime  # when it was first set aside: it counts again at since + recheck
    vm_id: str  # the idle VM it was refused beside


def set_aside(
    jobs: pd.DataFrame,
    fleet: Fleet,
    groups: Mapping[str, GroupConfig],
    known: Mapping[tuple[str, str], Unmatched],
    recheck_s: int,
    now: datetime,
) -> tuple[pd.DataFrame, list[Unmatched], list[Skip]]:
    """(the jobs that still count, every job set aside now, one skip per group saying why)."""
    idle = (jobs["status"] == JobStatus.IDLE).to_numpy() & jobs["job_id"].notna().to_numpy()
    if not idle.any():
        return jobs, [], []
    aside: dict[int, Unmatched] = {}
    for row in np.flatnonzero(idle):
        key = (jobs["group"].iat[row], jobs["job_id"].iat[row])
        mark = known.get(key)
        if mark is not None and (now - mark.since).total_seconds() < recheck_s:
            aside[row] = mark
    candidates = idle & jobs["rejected_at"].notna().to_numpy()
    candidates[list(aside)] = False
    if candidates.any():
        aside |= _refused_beside_idle_vms(jobs, np.flatnonzero(candidates), fleet, groups, now)
    if not aside:
        return jobs, [], []
    keep = np.ones(len(jobs), dtype=bool)
    keep[list(aside)] = False
    marks = sorted(aside.values(), key=lambda u: (u.group, u.job_id))
    return jobs[keep], marks, _skips(marks, recheck_s)


def _refused_beside_idle_vms(
    jobs: pd.DataFrame, rows: np.ndarray, fleet: Fleet, groups: Mapping[str, GroupConfig], now: datetime
) -> dict[int, Unmatched]:
    """The jobs of ``rows`` rejected after a fitting VM of ours went idle (that VM: the longest idle).
    One pass per distinct (group, alias, owner, cores, memory) of the candidates, not per job."""
    idle_vm = np.flatnonzero(fleet.state_in(VmState.IDLE)) if len(fleet) else np.zeros(0, dtype=np.int64)
    if not len(idle_vm):
        return {}
    since = fleet.col("idle_since")[idle_vm]
    vm_cores = fleet.col("cores")[idle_vm].astype(np.int64)
    vm_ram = fleet.col("ram_mb")[idle_vm].astype(np.int64)
    vm_bucket = [fleet.bucket_keys[b] for b in fleet.buckets[idle_vm]]
    # None: not known (an adopted VM): it admits anyone, as for ``planner.wanted_buckets``, so whatever
    # can keep a VM can also be set aside beside it
    vm_owners = [set(o.split()) if isinstance(o, str) else None for o in fleet.col("owners")[idle_vm]]
    part = jobs.iloc[rows]
    defaults = {name: (g.job_defaults.cores, g.job_defaults.ram_mb) for name, g in groups.items()}
    rejected = seconds(part["rejected_at"])
    out: dict[int, Unmatched] = {}
    keys = zip(part["group"], part["target_alias"], part["owner"], part["cores"], part["ram_mb"], strict=True)
    by_need: dict[tuple, list[int]] = {}
    for i, (group, alias, owner, cores, ram) in enumerate(keys):
        alias = alias if isinstance(alias, str) and alias else None  # a missing alias reads as NaN
        if group in defaults:
            sizes = (_stated(cores, defaults[group][0]), _stated(ram, defaults[group][1]))
            by_need.setdefault((group, alias, owner, *sizes), []).append(i)
    for (group, alias, owner, cores, ram), members in by_need.items():
        # A VM booted for other owners may refuse this one by its START (csv2's templates admit only the
        # owners a VM was booted for): only a VM booted for this owner (or for anyone, as far as we know)
        # speaks for the job's Requirements.
        mine = [
            g == group and (alias is None or a == alias) and (owners is None or owner in owners)
            for (g, a), owners in zip(vm_bucket, vm_owners, strict=True)
        ]
        fits = np.array(mine, dtype=bool) & (vm_cores >= cores) & (vm_ram >= ram)
        if not fits.any():
            continue
        first = np.flatnonzero(fits)[np.argmin(since[fits])]  # the VM idle the longest
        vm_id = fleet.col("vm_id")[idle_vm[first]]
        for i in members:
            if since[first] < rejected[i]:  # refused after that VM was free for it
                out[int(rows[i])] = Unmatched(group, part["job_id"].iat[i], now, vm_id)
    return out


def _stated(value: float, default: int) -> int:
    return int(value) if value == value and value > 0 else default  # NaN or <= 0: the group's default


def _skips(marks: list[Unmatched], recheck_s: int) -> list[Skip]:
    by_group: dict[str, list[Unmatched]] = {}
    for m in marks:
        by_group.setdefault(m.group, []).append(m)
    return [
        Skip(
            group,
            None,
            f"unmatched:{ms[0].job_id}",
            SkipReason.REQUIREMENTS_UNMATCHED,
            jobs=len(ms),
            detail=f"the pool found no match for them beside our idle VM {ms[0].vm_id}, which fits them: "
            f"their Requirements (or our startds' START) exclude our VMs; they ask for VMs again "
            f"{recheck_s} s after they were set aside (e.g. job {ms[0].job_id})",
        )
        for group, ms in sorted(by_group.items())
    ]
