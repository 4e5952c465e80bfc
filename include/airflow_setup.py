"""Deploy-time set-up of Airflow for cloudscheduler: the Airflow pools our tasks use, and the demo
configuration on first start. Run by ``make run`` and by the compose init service.

Pools must exist before a task names them (a task in a missing pool waits forever), so every cloud of
the configuration gets its pool here, and the scheduling run creates pools for clouds added later.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import func, select

from include.store.db import session_scope
from include.store.models import Cloud, Group

CLOUD_POOL_SLOTS = 4  # concurrent API-calling tasks per cloud; the adapters' token bucket paces calls
SHARED_POOLS = {
    "cs_condor": (4, "pool polls and retire commands"),
    # Airflow cannot give mapped task instances different pools (apache/airflow#33657), so cloud-calling
    # tasks share this pool; each cloud is paced by its own token bucket (docs/design/cloud-pools.md).
    "cs_cloud_api": (8, "tasks calling cloud APIs (polls, boots, deletes)"),
}


def cloud_pool_name(group: str, cloud: str) -> str:
    return f"cs_cloud_{group}_{cloud}"


def wanted_pools() -> dict[str, tuple[int, str]]:
    pools = dict(SHARED_POOLS)
    with session_scope() as session:
        for group, cloud in session.execute(select(Cloud.group_name, Cloud.name)):
            pools[cloud_pool_name(group, cloud)] = (CLOUD_POOL_SLOTS, f"API calls to cloud {group}/{cloud}")
    return pools


def ensure_pools(pools: dict[str, tuple[int, str]]) -> list[str]:
    """Create missing pools (existing ones keep the slots an operator gave them). Returns those created."""
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    created = []
    with create_session() as session:
        existing = {p.pool for p in session.scalars(select(Pool))}
        for name, (slots, description) in sorted(pools.items()):
            if name not in existing:
                Pool.create_or_update_pool(name, slots, description, include_deferred=False, session=session)
                created.append(name)
    return created


def load_demo_if_empty(path: str) -> bool:
    from include.config import apply_config, load_yaml_file

    with session_scope() as session:
        if session.scalar(select(func.count()).select_from(Group)):
            return False
        apply_config(session, load_yaml_file(path), actor="demo")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--demo", help="configuration to load when the state database has no groups yet")
    args = parser.parse_args(argv)
    if args.demo:
        loaded = load_demo_if_empty(args.demo)
        print(f"demo configuration {'loaded from ' + args.demo if loaded else 'kept: groups already configured'}")
    created = ensure_pools(wanted_pools())
    print(f"Airflow pools created: {', '.join(created) or 'none (all exist)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
