"""The work a plan leaves for the act tasks, read level-triggered from the store: every cloud with open
boot requests, planned deletes or operator kills, every pool with retires (leftovers of earlier cycles
too) or with startds to drain or undrain (this plan's only: the next plan decides again from the pool)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import or_, select

from include.condor.pools import pool_key
from include.store.db import session_scope
from include.store.models import BootRequest, Group, Vm


def cloud_work(groups: list[str], deletes: list[str]) -> list[dict[str, Any]]:
    """Clouds with open boot requests, planned deletes or operator kills (level-triggered: leftovers of
    earlier cycles are picked up too)."""
    work: dict[tuple[str, str], list[str]] = defaultdict(list)
    with session_scope() as session:
        for g, c in session.execute(
            select(BootRequest.group_name, BootRequest.cloud_name).where(
                BootRequest.group_name.in_(groups), BootRequest.state.in_(("planned", "sent"))
            )
        ):
            work[(g, c)]
        for vm_id, g, c in session.execute(
            select(Vm.vm_id, Vm.group_name, Vm.cloud_name).where(
                Vm.group_name.in_(groups),
                or_(Vm.vm_id.in_(deletes), Vm.kill_requested_at.is_not(None)),
                Vm.status != "gone",
            )
        ):
            if vm_id in deletes:
                work[(g, c)].append(vm_id)
            else:
                work[(g, c)]
    return [{"group": g, "cloud": c, "deletes": sorted(v)} for (g, c), v in sorted(work.items())]


def pool_work(
    groups: list[str],
    retires: list[str],
    drains: dict[str, str] | None = None,
    undrains: list[str] = (),
) -> list[dict[str, Any]]:
    """Pools with retires to send, or startds to drain (vm id -> DrainReason) or undrain."""
    drains = drains or {}
    kinds = {"retires": set(retires), "drains": set(drains), "undrains": set(undrains)}
    wanted = sorted(set().union(*kinds.values()))
    by_pool: dict[str, dict[str, list[str]]] = defaultdict(lambda: {k: [] for k in kinds})
    with session_scope() as session:
        keys = {
            g.name: pool_key(g.pool_kind, g.collector)
            for g in session.scalars(select(Group).where(Group.name.in_(groups)))
        }
        for vm_id, g in session.execute(select(Vm.vm_id, Vm.group_name).where(Vm.vm_id.in_(wanted))):
            for kind, ids in kinds.items():
                if vm_id in ids:
                    by_pool[keys[g]][kind].append(vm_id)
    groups_of = defaultdict(set)
    for g, k in keys.items():
        groups_of[k].add(g)
    return [
        {
            "pool": k,
            "retires": sorted(v["retires"]),
            "drains": {vm_id: drains[vm_id] for vm_id in sorted(v["drains"])},
            "undrains": sorted(v["undrains"]),
            "groups": sorted(groups_of[k]),
        }
        for k, v in sorted(by_pool.items())
    ]


def work_items(planned: dict[str, Any]) -> list[dict[str, Any]]:
    """One list for the mapped act task: cloud work first, then pool work, each labelled for the UI."""
    items = [{"kind": "cloud", "label": f"{w['group']}/{w['cloud']}", **w} for w in planned["clouds"]]
    return items + [{"kind": "pool", "label": f"pool {w['pool']}", **w} for w in planned["pools"]]
