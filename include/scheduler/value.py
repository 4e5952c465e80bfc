"""Which VMs are worth least: the order in which over-limit retires and the operator's ``kill N``,
``retire N`` and ``retain N`` pick VMs. Least work lost first: VMs not registered yet (newest first),
then idle VMs (longest idle first), then busy VMs (shortest running first); ties by vm_id."""

from __future__ import annotations

import numpy as np

from include.scheduler.fleet import Fleet

UNREGISTERED, IDLE, BUSY = 0, 1, 2  # the tiers, least valuable first


def least_valuable_first(fleet: Fleet, rows: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``fleet`` (all, or ``rows``) from least to most valuable."""
    rows = np.arange(len(fleet)) if rows is None else np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return rows
    registered, busy = fleet.col("registered")[rows], fleet.col("busy")[rows]
    tier = np.where(~registered, UNREGISTERED, np.where(busy, BUSY, IDLE))
    requested, idle_since, busy_since = (
        np.nan_to_num(fleet.col(c)[rows]) for c in ("requested_at", "idle_since", "busy_since")
    )
    metric = np.where(tier == UNREGISTERED, -requested, np.where(tier == IDLE, idle_since, -busy_since))
    by_id = np.argsort(fleet.col("vm_id")[rows].astype(str), kind="stable")
    id_rank = np.empty(len(rows), dtype=np.int64)
    id_rank[by_id] = np.arange(len(rows))
    return rows[np.lexsort((id_rank, metric, tier))]
