"""Demand: idle jobs grouped once by shape, with the group's job defaults applied and owners admitted.

The one pass over the job table is a single pandas groupby; everything after it works on the groups
(hundreds), never on jobs.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from include.scheduler.actions import Skip
from include.scheduler.model import GroupConfig, JobDefaults
from include.scheduler.reasons import SkipReason
from include.scheduler.states import JobStatus
from include.scheduler.tables import seconds

_KEYS = [
    "group",
    "status",
    "owner",
    "target_alias",
    "cores",
    "ram_mb",
    "disk_gb",
    "swap_gb",
    "image",
    "instance_type",
    "network",
    "user_data",
    "keep_alive",
    "max_price",
]


@dataclass(frozen=True)
class Shape:
    """Idle jobs that need the same kind of VM."""

    group: str
    alias: str | None
    cores: int
    ram_mb: int
    disk_gb: float
    swap_gb: float
    image: str | None  # VMImage as given
    instance_type: str | None  # VMInstanceType as given
    network: str | None
    user_data: str | None
    keep_alive: int | None
    max_price: float | None
    jobs: int
    owners: tuple[str, ...]
    priority: int  # highest JobPrio among the jobs
    oldest: datetime | None  # earliest queue date

    @cached_property
    def key(self) -> str:
        return shape_key(self)


def shapes_of(jobs: pd.DataFrame, groups: dict[str, GroupConfig]) -> tuple[list[Shape], list[Skip]]:
    """Idle, admitted demand per shape, and skips for jobs of unknown groups or owners not admitted."""
    keys, constant = _informative(jobs)
    grouped = jobs.groupby(keys, dropna=False, observed=True, sort=False)
    counts = grouped.size()
    oldest = grouped["q_date"].min()
    priority = grouped["priority"].max()
    acc: dict[tuple, list[Any]] = {}
    refused: dict[tuple[str, SkipReason], list[Any]] = {}
    fields_of: dict[tuple, tuple] = {}  # one entry per shape, however many owners share it
    for key, n, q, p in zip(
        zip(*_key_columns(counts.index, keys, constant), strict=True),
        counts.to_numpy().tolist(),
        seconds(oldest).tolist(),
        priority.to_numpy().tolist(),
        strict=True,
    ):
        group, status, owner = _text(key[0]), key[1], _text(key[2]) or ""
        if status != JobStatus.IDLE or group is None:
            continue  # running/held jobs are not demand; jobs without a group are foreign
        config = groups.get(group)
        if config is None or not config.admits(owner):
            reason = SkipReason.GROUP_UNKNOWN if config is None else SkipReason.OWNER_NOT_ADMITTED
            entry = refused.setdefault((group, reason), [0, set()])
            entry[0] += n
            entry[1].add(owner)
            continue
        shape_of_key = key[:2] + key[3:]
        fields = fields_of.get(shape_of_key)
        if fields is None:
            fields = fields_of[shape_of_key] = _shape_fields(key, config.job_defaults)
        entry = acc.setdefault(fields, [0, set(), p, q])
        entry[0] += n
        entry[1].add(owner)
        entry[2] = max(entry[2], p)
        entry[3] = min(entry[3], q) if q == q else entry[3]  # NaN (no queue date) never wins
    shapes = [
        Shape(*fields, jobs=n, owners=tuple(sorted(owners)), priority=int(p), oldest=_time(q))
        for fields, (n, owners, p, q) in acc.items()
    ]
    skips = [
        Skip(group, None, "jobs", reason, jobs=n, detail=_owners_detail(owners))
        for (group, reason), (n, owners) in refused.items()
    ]
    return shapes, skips


def _key_columns(index: pd.Index, keys: list[str], constant: dict[str, Any]) -> list[list[Any]]:
    """Every column of _KEYS for the groups, as lists: grouped levels, or the constant repeated."""
    if isinstance(index, pd.MultiIndex):
        levels = {k: index.get_level_values(i).tolist() for i, k in enumerate(keys)}
    else:
        levels = {keys[0]: index.tolist()}
    return [levels[k] if k in levels else [constant[k]] * len(index) for k in _KEYS]


def _informative(jobs: pd.DataFrame) -> tuple[list[str], dict[str, Any]]:
    """The key columns that vary, and the value of those that do not (most jobs set no VMNetwork,
    VMUserData, VMKeepAlive or VMMaximumPrice): grouping on a constant column costs a pass for nothing.
    Checking is far cheaper than factorising: a NaN test on floats, a min/max on integers."""
    keys, constant = [], {}
    for name in _KEYS:
        col = jobs[name]
        if not len(col) or not pd.isna(col.iat[0]) and col.dtype.kind not in "iu":
            keys.append(name)  # a value in the first row: it is not all-missing
        elif col.dtype.kind == "f" and np.isnan(col.to_numpy()).all():
            constant[name] = np.nan
        elif col.dtype.kind in "iu" and col.min() == col.max():
            constant[name] = col.iat[0]
        elif col.dtype.kind not in "fiu" and col.isna().all():
            constant[name] = None
        else:
            keys.append(name)
    return keys or [_KEYS[0]], constant


def _shape_fields(key: tuple, d: JobDefaults) -> tuple:
    _, _, _, alias, cores, ram, disk, swap, image, itype, network, user_data, keep_alive, price = key
    return (
        _text(key[0]),
        _text(alias),
        int(math.ceil(cores)) if cores > 0 else d.cores,  # NaN > 0 is False: unstated
        int(math.ceil(ram)) if ram > 0 else d.ram_mb,
        float(disk) if disk > 0 else float(d.disk_gb),
        float(swap) if swap >= 0 else float(d.swap_gb),
        _text(image),
        _text(itype),
        _text(network),
        _text(user_data),
        int(keep_alive) if keep_alive >= 0 else None,
        float(price) if price >= 0 else None,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(epoch: float) -> datetime | None:
    return None if epoch != epoch else datetime.fromtimestamp(epoch, UTC)


def _owners_detail(owners: set[str]) -> str:
    names = sorted(o or "?" for o in owners)
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return "owners: " + ", ".join(names[:5]) + more


def shape_key(s: Shape) -> str:
    """A short readable key, unique per shape: the ``subject`` of skips and ``Served.shape``."""
    parts = [s.alias or "*", f"{s.cores}c", f"{s.ram_mb}mb", f"{s.disk_gb:g}gb", f"{s.swap_gb:g}sw"]
    for label, value in (
        ("img", s.image),
        ("type", s.instance_type),
        ("net", s.network),
        ("ud", s.user_data),
        ("ka", s.keep_alive),
        ("price", s.max_price),
    ):
        if value is not None:
            parts.append(f"{label}={value}")
    key = "/".join(parts)
    if len(key) <= 120:
        return key
    return key[:111] + "~" + hashlib.sha256(key.encode()).hexdigest()[:8]


def choice_for(spec: str | None, cloud: str) -> str | None:
    """The value a ``VMImage``/``VMInstanceType``/``VMNetwork`` string names for ``cloud``: its
    ``cloud:value`` entry, else its ``default:value`` entry or bare value, else None."""
    if not spec:
        return None
    by_cloud, default = parse_choice(spec)
    return by_cloud.get(cloud, default)


def parse_choice(spec: str) -> tuple[dict[str, str], str | None]:
    by_cloud: dict[str, str] = {}
    default = None
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        name, sep, value = entry.partition(":")
        if not sep:
            default = default or entry
        elif name.strip() == "default":
            default = value.strip()
        else:
            by_cloud.setdefault(name.strip(), value.strip())
    return by_cloud, default
