"""Capacity: our VMs joined with their startd slots, one row per VM with its derived state.

Slots are summed per VM: a partitionable slot's cores and memory are what is still free on the VM;
a claimed (or matched, or preempting) slot means the VM holds work and is never retired for idleness.
Columns become numpy arrays and times float seconds since the epoch (NaN = never), so every rule is
plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from include.scheduler.states import VmState, VmStatus
from include.scheduler.tables import VM_COLUMNS, seconds

CLAIMED_STATES = ("Claimed", "Matched", "Preempting")  # the slot holds work (include/status shares these)
FREE_SLOT_TYPES = ("Partitionable", "Static")  # an Unclaimed one of these offers its cores and memory
SLOT_STATES = ("Unclaimed", *CLAIMED_STATES)
SLOT_TYPES = ("Partitionable", "Dynamic", "Static")
# The DrainReason condor_defrag gives its drains ("Defrag <daemon name>"; "Defrag" before HTCondor 10.7).
DEFRAG_DRAIN = "Defrag"
# The DrainReason of our own drains that gather cores for a waiting multi-core job (room.py).
ROOM_DRAIN = "cloudscheduler: room for"
STATUSES = tuple(s.value for s in VmStatus)
STATES = tuple(s.value for s in VmState)
STATE_NAMES = np.array(STATES, dtype=object)
TIME_COLUMNS = tuple(name for name, (kind, _) in VM_COLUMNS.items() if kind == "time")
_TEXT = ("vm_id", "group", "cloud", "flavor", "status", "target_alias", "retire_reason", "owners")


@dataclass
class Fleet:
    """One entry per VM row in every column array. ``codes[i]`` indexes ``keys``, the (group, cloud)
    of row i; ``buckets[i]`` indexes ``bucket_keys``, its (group, target alias or None)."""

    cols: dict[str, np.ndarray]
    codes: np.ndarray
    keys: list[tuple[str, str]]
    buckets: np.ndarray
    bucket_keys: list[tuple[str, str | None]]

    def col(self, name: str) -> np.ndarray:
        return self.cols[name]

    def status_in(self, *statuses: VmStatus) -> np.ndarray:
        """Rows whose cloud status is one of ``statuses`` (small-integer compares, not strings)."""
        return np.isin(self.cols["status_code"], [STATUSES.index(s.value) for s in statuses])

    def state_in(self, *states: VmState) -> np.ndarray:
        return np.isin(self.cols["state_code"], [STATES.index(s.value) for s in states])

    def __len__(self) -> int:
        return len(self.codes)


def derive(vms: pd.DataFrame, slots: pd.DataFrame) -> Fleet:
    index = pd.Index(vms["vm_id"])
    if not index.is_unique:
        raise ValueError("vms: vm_id must be unique")
    cols = {c: vms[c].to_numpy(dtype=object) for c in _TEXT}
    cols |= {c: vms[c].to_numpy() for c in ("cores", "ram_mb", "keep_alive", "retire_count")}
    cols["manual"] = vms["manual"].to_numpy(dtype=bool)
    cols |= {c: seconds(vms[c]) for c in TIME_COLUMNS}
    cols["status_code"] = _codes(vms["status"], STATUSES)
    cols |= _slot_summary(index, slots, len(vms))
    cols["registered"] = cols["n_slots"] > 0
    cols["state_code"] = states(cols)
    cols["state"] = STATE_NAMES[cols["state_code"]]
    cols["ran_job"] = ~np.isnan(cols["first_job_at"]) | cols["busy"] | cols["has_dynamic"]
    cols["registered_since"] = _first_known(cols, "registered_at", "slot_first")
    cols["idle_since"] = _first_known(cols, "slots_changed_at", "slot_last", "created_at", "requested_at")
    group_codes, groups = _factorize(cols["group"])
    codes, keys = _pairs(group_codes, groups, *_factorize(cols["cloud"]))
    buckets, bucket_keys = _pairs(group_codes, groups, *_factorize(cols["target_alias"]))
    return Fleet(cols, codes, keys, buckets, bucket_keys)


def states(cols: dict[str, np.ndarray]) -> np.ndarray:
    """The vectorised twin of ``states.vm_state`` (first match wins), as indexes into ``STATES``; a test
    keeps them equal."""
    status = cols["status_code"]
    registered = cols["n_slots"] > 0

    def is_(*values: VmStatus) -> np.ndarray:
        return np.isin(status, [STATUSES.index(v.value) for v in values])

    conditions = [
        is_(VmStatus.GONE),
        cols["manual"],
        is_(VmStatus.ERROR),
        ~np.isnan(cols["retire_requested_at"]) | cols["slot_retiring"],
        is_(VmStatus.REQUESTED, VmStatus.BUILDING, VmStatus.UNKNOWN) & ~registered,
        ~registered,
        cols["busy"],
    ]
    choices = [
        VmState.GONE,
        VmState.MANUAL,
        VmState.ERROR,
        VmState.RETIRING,
        VmState.STARTING,
        VmState.UNREGISTERED,
        VmState.RUNNING,
    ]
    return np.select(
        conditions, [STATES.index(c.value) for c in choices], default=STATES.index("idle")
    ).astype(np.int8)


def _per_value(column: pd.Series, fn, missing, dtype=None) -> np.ndarray:
    """``fn`` of each value, computed once per distinct value: one hashing pass, then a lookup."""
    codes, uniques = pd.factorize(column.to_numpy(dtype=object))
    lookup = np.array([fn(u) for u in uniques] + [missing], dtype=dtype)
    return lookup[codes]  # code -1 (missing) reads the trailing ``missing``


def _starts_with(column: pd.Series, prefix: str) -> np.ndarray:
    """Whether each value is a string starting with ``prefix``."""
    return _per_value(column, lambda u: isinstance(u, str) and u.startswith(prefix), False, bool)


def _codes(column: pd.Series, words: tuple[str, ...]) -> np.ndarray:
    """Index of each value in ``words`` (-1 for anything else), for integer compares."""
    return _per_value(column, lambda u: words.index(u) if u in words else -1, -1, np.int8)


def _slot_summary(index: pd.Index, slots: pd.DataFrame, n: int) -> dict[str, np.ndarray]:
    row = index.get_indexer(slots["vm_id"])  # -1: a startd of a VM we do not have
    mine = row >= 0
    row = row[mine]
    state = _codes(slots["state"], SLOT_STATES)[mine]
    kind = _codes(slots["slot_type"], SLOT_TYPES)[mine]
    claimed = state > 0  # one of CLAIMED_STATES
    offers = np.isin(kind, [SLOT_TYPES.index(t) for t in FREE_SLOT_TYPES])
    free = (state == 0) & offers
    drained = (_codes(slots["state"], ("Drained",))[mine] == 0) & offers  # free, but a drain holds them
    retiring = slots["retiring"].to_numpy(dtype=bool)[mine]
    defrag = _starts_with(slots["drain_reason"], DEFRAG_DRAIN)[mine]
    room = _starts_with(slots["drain_reason"], ROOM_DRAIN)[mine]
    entered = seconds(slots["entered_state_at"])[mine]
    count = np.bincount(row, minlength=n)

    def total(weights: np.ndarray) -> np.ndarray:
        return np.bincount(row, weights=weights, minlength=n)

    claimed_cores: list[list[int]] = [[] for _ in range(n)]  # each VM's running jobs, by their cores
    for r, c in zip(row[claimed].tolist(), slots["cores"].to_numpy()[mine][claimed].tolist(), strict=True):
        claimed_cores[r].append(int(c))
    return {
        "claimed_cores": np.array(
            [tuple(sorted(c, reverse=True)) for c in claimed_cores] + [()], dtype=object
        )[:n],
        "n_slots": count,
        "busy": total(claimed) > 0,
        "free_cores": total(np.where(free, slots["cores"].to_numpy()[mine], 0)).astype(np.int64),
        "free_mem": total(np.where(free, slots["memory_mb"].to_numpy()[mine], 0)).astype(np.int64),
        "drained_cores": total(np.where(drained, slots["cores"].to_numpy()[mine], 0)).astype(np.int64),
        "drained_mem": total(np.where(drained, slots["memory_mb"].to_numpy()[mine], 0)).astype(np.int64),
        "slot_retiring": total(retiring) > 0,
        "all_retiring": (total(retiring) == count) & (count > 0),
        "defrag_draining": total(defrag) > 0,  # condor_defrag's drain: it resumes or cancels it itself
        "room_draining": total(room) > 0,  # our drain for a waiting multi-core job (room.py)
        "has_dynamic": total(kind == SLOT_TYPES.index("Dynamic")) > 0,
        "slot_first": _reduce(np.fmin, row, entered, n),
        "slot_last": _reduce(np.fmax, row, entered, n),
        "busy_since": _reduce(np.fmin, row, np.where(claimed, entered, np.nan), n),
        "claimed_last": _reduce(np.fmax, row, np.where(claimed, entered, np.nan), n),
        # for the mean age of the running jobs (consolidate.py): claimed slots with a known start
        "claimed_known": total(claimed & ~np.isnan(entered)),
        "claimed_start_sum": total(np.where(claimed & ~np.isnan(entered), entered, 0.0)),
    }


def _reduce(ufunc: np.ufunc, row: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    ufunc.at(out, row, values)  # fmin/fmax ignore NaN on either side
    return out


def _first_known(cols: dict[str, np.ndarray], *names: str) -> np.ndarray:
    out = cols[names[0]]
    for name in names[1:]:
        out = np.where(np.isnan(out), cols[name], out)
    return out


def _factorize(values: np.ndarray) -> tuple[np.ndarray, list]:
    """Codes into the distinct values; missing values and empty strings are all one value, None."""
    codes, uniques = pd.factorize(values)  # -1 for missing
    index: dict[str | None, int] = {}
    remap = [index.setdefault(u if isinstance(u, str) and u else None, len(index)) for u in uniques]
    remap.append(index.setdefault(None, len(index)))  # read by code -1
    return np.asarray(remap, dtype=np.int64)[codes], list(index)


def _pairs(ca: np.ndarray, ua: list, cb: np.ndarray, ub: list) -> tuple[np.ndarray, list[tuple]]:
    """Codes of the distinct (a, b) pairs, in order of first appearance."""
    width = len(ub)
    codes, pairs = pd.factorize(ca.astype(np.int64) * width + cb)
    return codes.astype(np.int64), [(ua[p // width], ub[p % width]) for p in pairs]
