"""Deploy-time set-up of Airflow for cloudscheduler: the Airflow pools our tasks use, and the demo
configuration on first start. Run by ``make run`` and by the compose init service.

Pools must exist before a task names them (a task in a missing pool waits forever). Our tasks name only
the shared pools below, so a cloud added later needs no new pool (docs/design/cloud-pools.md).
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import func, select

from include.store.db import session_scope
from include.store.models import Group

SHARED_POOLS = {
    "cs_condor": (4, "pool polls and retire commands"),
    # Airflow cannot give mapped task instances different pools (apache/airflow#33657), so cloud-calling
    # tasks share this pool; each cloud is paced by its own token bucket (docs/design/cloud-pools.md).
    "cs_cloud_api": (8, "tasks calling cloud APIs (polls, boots, deletes)"),
}


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
    from include.config import apply_config, load_yaml_file  # only with --demo

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
        print(
            f"demo configuration {'loaded from ' + args.demo if loaded else 'kept: groups already configured'}"
        )
    created = ensure_pools(SHARED_POOLS)
    print(f"Airflow pools created: {', '.join(created) or 'none (all exist)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
