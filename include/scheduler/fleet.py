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
from include.scheduler.tables import VM_COLUMNS, any_of, seconds

CLAIMED_STATES = ("Claimed", "Matched", "Preempting")
FREE_SLOT_TYPES = ("Partitionable", "Static")
TIME_COLUMNS = tuple(name for name, (kind, _) in VM_COLUMNS.items() if kind == "time")
_TEXT = ("vm_id", "group", "cloud", "flavor", "status", "target_alias", "retire_reason")


@dataclass
class Fleet:
    """One entry per VM row in every column array. ``codes[i]`` indexes ``keys``, the (group, cloud)
    of row i; ``pools[i]`` indexes ``pool_keys``, its (group, target alias or None)."""

    cols: dict[str, np.ndarray]
    codes: np.ndarray
    keys: list[tuple[str, str]]
    pools: np.ndarray
    pool_keys: list[tuple[str, str | None]]

    def col(self, name: str) -> np.ndarray:
        return self.cols[name]

    def __len__(self) -> int:
        return len(self.codes)


def derive(vms: pd.DataFrame, slots: pd.DataFrame) -> Fleet:
    index = pd.Index(vms["vm_id"])
    if not index.is_unique:
        raise ValueError("vms: vm_id must be unique")
    cols = {c: vms[c].to_numpy(dtype=object) for c in _TEXT}
    cols["target_alias"] = np.where(
        pd.isna(cols["target_alias"]) | (cols["target_alias"] == ""), None, cols["target_alias"]
    )
    cols |= {c: vms[c].to_numpy() for c in ("cores", "ram_mb", "keep_alive", "retire_count")}
    cols["manual"] = vms["manual"].to_numpy(dtype=bool)
    cols |= {c: seconds(vms[c]) for c in TIME_COLUMNS}
    cols |= _slot_summary(index, slots, len(vms))
    cols["registered"] = cols["n_slots"] > 0
    cols["state"] = states(cols)
    cols["ran_job"] = ~np.isnan(cols["first_job_at"]) | cols["busy"] | cols["has_dynamic"]
    cols["registered_since"] = _first_known(cols, "registered_at", "slot_first")
    cols["idle_since"] = _first_known(cols, "slots_changed_at", "slot_last", "created_at", "requested_at")
    codes, keys = pair_codes(cols["group"], cols["cloud"])
    pools, pool_keys = pair_codes(cols["group"], cols["target_alias"])
    return Fleet(cols, codes, keys, pools, pool_keys)


def states(cols: dict[str, np.ndarray]) -> np.ndarray:
    """The vectorised twin of ``states.vm_state`` (first match wins); a test keeps them equal."""
    status = cols["status"]
    registered = cols["n_slots"] > 0
    conditions = [
        status == VmStatus.GONE.value,
        cols["manual"],
        status == VmStatus.ERROR.value,
        ~np.isnan(cols["retire_requested_at"]) | cols["slot_retiring"],
        any_of(status, [VmStatus.REQUESTED.value, VmStatus.BUILDING.value])
        | ((status == VmStatus.UNKNOWN.value) & ~registered),
        ~registered,
        cols["busy"],
    ]
    choices = [VmState.GONE, VmState.MANUAL, VmState.ERROR, VmState.RETIRING, VmState.STARTING,
               VmState.UNREGISTERED, VmState.RUNNING]  # fmt: skip
    return np.select(conditions, [c.value for c in choices], default=VmState.IDLE.value).astype(object)


def _slot_summary(index: pd.Index, slots: pd.DataFrame, n: int) -> dict[str, np.ndarray]:
    row = index.get_indexer(slots["vm_id"])  # -1: a startd of a VM we do not have
    mine = row >= 0
    row = row[mine]
    state = slots["state"].to_numpy(dtype=object)[mine]
    kind = slots["slot_type"].to_numpy(dtype=object)[mine]
    claimed = any_of(state, CLAIMED_STATES)
    free = any_of(kind, FREE_SLOT_TYPES) & (state == "Unclaimed")
    retiring = slots["retiring"].to_numpy(dtype=bool)[mine]
    entered = seconds(slots["entered_state_at"])[mine]
    count = np.bincount(row, minlength=n)

    def total(weights: np.ndarray) -> np.ndarray:
        return np.bincount(row, weights=weights, minlength=n)

    return {
        "n_slots": count,
        "busy": total(claimed) > 0,
        "free_cores": total(np.where(free, slots["cores"].to_numpy()[mine], 0)).astype(np.int64),
        "free_mem": total(np.where(free, slots["memory_mb"].to_numpy()[mine], 0)).astype(np.int64),
        "slot_retiring": total(retiring) > 0,
        "all_retiring": (total(retiring) == count) & (count > 0),
        "has_dynamic": total(kind == "Dynamic") > 0,
        "slot_first": _reduce(np.fmin, row, entered, n),
        "slot_last": _reduce(np.fmax, row, entered, n),
        "busy_since": _reduce(np.fmin, row, np.where(claimed, entered, np.nan), n),
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


def pair_codes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
    """Codes of the distinct (a, b) pairs, in order of first appearance; None stays None."""
    ca, ua = pd.factorize(a, use_na_sentinel=False)
    cb, ub = pd.factorize(b, use_na_sentinel=False)
    codes, pairs = pd.factorize(ca.astype(np.int64) * max(len(ub), 1) + cb)
    width = max(len(ub), 1)
    return codes.astype(np.int64), [(_plain(ua[p // width]), _plain(ub[p % width])) for p in pairs]


def _plain(value: object) -> object:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value
