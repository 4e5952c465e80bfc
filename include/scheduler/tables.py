"""The three large inputs as DataFrames: one row per job, per VM of ours, per startd slot.

Column names mirror the store (``include/store/models/observed.py``) with the planner's short names
(``group`` for ``group_name``, ``cloud`` for ``cloud_name``). Optional columns may be left out and get
their default; string columns may be of any string dtype (str, object, category); times are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

import numpy as np
import pandas as pd

NaT = pd.NaT
nan = float("nan")

# name -> (kind, default). Kinds: str (nullable), int, float (NaN = not stated), bool, time (UTC, NaT).
JOB_COLUMNS: Mapping[str, tuple[str, Any]] = {
    "group": ("str", None),  # None = a foreign job: ignored
    "owner": ("str", ""),
    "status": ("int", 1),  # HTCondor JobStatus: 1 idle, 2 running, 5 held
    "cores": ("float", nan),  # NaN or <= 0: the group's default
    "ram_mb": ("float", nan),
    "disk_gb": ("float", nan),
    "swap_gb": ("float", nan),
    "target_alias": ("str", None),
    "image": ("str", None),  # VMImage: a name, or "cloud:name,...,default:name"
    "instance_type": ("str", None),  # VMInstanceType: same form
    "network": ("str", None),  # VMNetwork: same form
    "user_data": ("str", None),  # VMUserData: extra cloud-init parts, passed through
    "keep_alive": ("float", nan),  # VMKeepAlive, seconds
    "max_price": ("float", nan),  # VMMaximumPrice
    "priority": ("int", 0),  # JobPrio: higher first
    "q_date": ("time", NaT),
    "job_id": ("str", None),  # GlobalJobId: the key of a job set aside (unmatched.py)
    "rejected_at": ("time", NaT),  # the negotiator's last "no match found" (LastRejMatchTime)
}

VM_COLUMNS: Mapping[str, tuple[str, Any]] = {
    "vm_id": ("str", None),
    "group": ("str", None),
    "cloud": ("str", None),
    "flavor": ("str", None),
    "cores": ("int", 0),
    "ram_mb": ("int", 0),
    "status": ("str", "requested"),  # a VmStatus value
    "manual": ("bool", False),
    "target_alias": ("str", None),
    "keep_alive": ("float", nan),  # the job's VMKeepAlive it was booted for; NaN = cloud's/group's
    "requested_at": ("time", NaT),
    "created_at": ("time", NaT),
    "status_changed_at": ("time", NaT),
    "registered_at": ("time", NaT),  # NEW: first time a slot of the VM was seen in the pool
    "first_job_at": ("time", NaT),  # NEW: first time a slot of the VM was seen claimed
    "slots_changed_at": ("time", NaT),  # NEW: last time the VM's set of slots changed
    "retire_requested_at": ("time", NaT),
    "retire_reason": ("str", None),
    "retire_sent_at": ("time", NaT),
    "retire_count": ("int", 0),
    "kill_requested_at": ("time", NaT),
    "owners": ("str", None),  # the job owners it was booted for, space-separated; None = not known
}

SLOT_COLUMNS: Mapping[str, tuple[str, Any]] = {
    "vm_id": ("str", None),
    "slot_type": ("str", "Partitionable"),  # Partitionable | Dynamic | Static
    "state": ("str", "Unclaimed"),  # Unclaimed | Claimed | Matched | Preempting | Drained | Owner ...
    "activity": ("str", "Idle"),
    "cores": ("int", 0),  # a partitionable slot's cores/memory are what is still free in it
    "memory_mb": ("int", 0),
    "entered_state_at": ("time", NaT),
    "retiring": ("bool", False),
    "drain_reason": ("str", None),  # a draining slot's DrainReason: "Defrag <name>" is condor_defrag's
}

_NUMPY_KIND = {"int": "int64", "float": "float64", "bool": "bool"}


def normalized(df: pd.DataFrame, columns: Mapping[str, tuple[str, Any]]) -> pd.DataFrame:
    """``df`` with every column present and of the planner's dtype. Cheap when it already is."""
    dtypes = df.dtypes.to_dict()
    missing = {name: spec for name, spec in columns.items() if name not in dtypes}
    bad = [name for name, (kind, _) in columns.items() if name in dtypes and not _ok(dtypes[name], kind)]
    if not missing and not bad:
        return df
    df = df.copy(deep=False)  # new columns replace nothing of the caller's: no need to copy a million rows
    for name, (kind, default) in missing.items():
        df[name] = _filled(default, kind, df.index)
    for name in bad:
        df[name] = _column(df[name], columns[name][0], df.index, columns[name][1])
    return df


def _filled(default: Any, kind: str, index: pd.Index) -> pd.Series:
    """A column of ``default`` in the planner's dtype, built whole rather than value by value."""
    if kind == "time" and (default is None or default is NaT):
        return pd.Series(NaT, index=index, dtype="datetime64[us, UTC]")
    if kind == "str" and default is None:  # object None: a string column by _ok, and no million-row cast
        return pd.Series(None, index=index, dtype=object)
    if kind in _NUMPY_KIND:
        value = np.nan if default is None and kind == "float" else default
        return pd.Series(np.full(len(index), value, dtype=_NUMPY_KIND[kind]), index=index)
    return _column([default] * len(index), kind, index, default)


def frame(rows: Iterable[Mapping[str, Any] | Any], columns: Mapping[str, tuple[str, Any]]) -> pd.DataFrame:
    """A normalized table from dicts or dataclasses (tests, small loaders)."""
    records = [asdict(r) if is_dataclass(r) else dict(r) for r in rows]
    unknown = {k for r in records for k in r} - set(columns)
    if unknown:
        raise ValueError(f"unknown columns: {', '.join(sorted(unknown))}")
    data = {
        name: _column([r.get(name, spec[1]) for r in records], spec[0], None, spec[1])
        for name, spec in columns.items()
    }
    return pd.DataFrame(data, index=pd.RangeIndex(len(records)))


def jobs_frame(rows: Iterable[Any] = ()) -> pd.DataFrame:
    return frame(rows, JOB_COLUMNS)


def vms_frame(rows: Iterable[Any] = ()) -> pd.DataFrame:
    return frame(rows, VM_COLUMNS)


def slots_frame(rows: Iterable[Any] = ()) -> pd.DataFrame:
    return frame(rows, SLOT_COLUMNS)


def _ok(dtype: Any, kind: str) -> bool:
    if kind == "time":
        return isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC"
    if kind == "str":
        return pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype | pd.CategoricalDtype)
    if not isinstance(dtype, np.dtype):
        return False
    return dtype.kind == np.dtype(_NUMPY_KIND[kind]).kind


def _column(values: Any, kind: str, index: pd.Index | None, default: Any = None) -> pd.Series:
    series = pd.Series(values, index=index, dtype=object if kind in ("str", "time") else None)
    if kind == "time":
        return pd.to_datetime(series, utc=True).astype("datetime64[us, UTC]")
    if kind == "str":
        return series.where(series.notna(), None).astype("str") if len(series) else series.astype("str")
    if kind == "float":
        return pd.to_numeric(series, errors="coerce").astype("float64")
    return series.fillna(default).astype(_NUMPY_KIND[kind])


_EPOCH = pd.Timestamp(0, tz="UTC")


def seconds(col: pd.Series) -> np.ndarray:
    """UTC times as float seconds since the epoch; NaN where missing."""
    array = col.array
    if isinstance(array, pd.arrays.DatetimeArray):  # fast path: the integer ticks, no Timestamp objects
        ticks = array.asi8
        out = ticks / float(np.timedelta64(1, "s") / np.timedelta64(1, array.unit))
        out[ticks == np.iinfo(np.int64).min] = np.nan
        return out
    return ((col - _EPOCH) / pd.Timedelta(seconds=1)).to_numpy(dtype=float, na_value=np.nan)
