"""Which pools exist, which groups each serves, and the adapter that talks to each.

Groups sharing a collector share a pool: it is polled once and its rows (``jobs.pool``, ``machines.pool``)
carry the pool's key. A simulated pool's key is ``simulated`` (or ``simulated:<collector>`` when a group
names one, to run several). Nothing here imports the HTCondor bindings.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from include.condor.records import GroupSpec, JobDefaults, PoolSpec
from include.store.models import Group, UserGroup

SIMULATED = "simulated"
LOCAL = "local"  # an htcondor group with no collector: the one the host's condor configuration names


def pool_key(pool_kind: str, collector: str | None) -> str:
    if pool_kind == SIMULATED:
        return f"{SIMULATED}:{collector}" if collector else SIMULATED
    return collector or LOCAL


def pool_specs(session: Session, deployment: str = "cs") -> list[PoolSpec]:
    """One spec per pool of the configured groups, in key order."""

    members: dict[str, list[str]] = defaultdict(list)
    for username, group in session.execute(select(UserGroup.username, UserGroup.group_name)):
        members[group].append(username)
    by_key: dict[str, list] = defaultdict(list)
    for g in session.scalars(select(Group).order_by(Group.name)):
        by_key[pool_key(g.pool_kind, g.collector)].append(g)
    specs = []
    for key, groups in sorted(by_key.items()):
        first = groups[0]
        address = (
            next((g.container_hostname for g in groups if g.container_hostname), None) or first.collector
        )
        specs.append(
            PoolSpec(
                key=key,
                kind=first.pool_kind,
                address=address,
                deployment=deployment,
                groups=tuple(
                    GroupSpec(
                        name=g.name,
                        schedds=tuple(g.schedds or ()),
                        other_submitters=tuple(g.other_submitters or ()),
                        members=tuple(sorted(members[g.name])),
                        defaults=JobDefaults(g.job_cores, g.job_ram_mb, g.job_disk_gb, g.job_swap_gb),
                    )
                    for g in groups
                ),
            )
        )
    return specs


def pool_spec(session: Session, key: str, deployment: str = "cs") -> PoolSpec:
    for spec in pool_specs(session, deployment):
        if spec.key == key:
            return spec
    raise KeyError(f"no group uses pool {key!r}")
