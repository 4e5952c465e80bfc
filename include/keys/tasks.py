"""The bodies of cs_keys' tasks; the DAG file only wires these."""

from __future__ import annotations

from sqlalchemy import Engine, select

from include.clouds import SecretsFor, keypair_store
from include.keys.sync import sync_cloud
from include.store.db import get_engine, session_scope
from include.store.models import Cloud, KeyPlacement, KeyTarget, utcnow


def key_clouds(engine: Engine | None = None) -> list[dict[str, str]]:
    """Enabled clouds with a ticked key or a keypair we placed (an untick must still delete it)."""
    with session_scope(engine or get_engine()) as s:
        busy = set(s.execute(select(KeyTarget.group_name, KeyTarget.cloud_name).distinct()).all())
        busy |= set(s.execute(select(KeyPlacement.group_name, KeyPlacement.cloud_name).distinct()).all())
        enabled = set(s.execute(select(Cloud.group_name, Cloud.name).where(Cloud.enabled)).all())
    return [{"group": g, "cloud": c} for g, c in sorted(busy & enabled)]


def sync_keys(
    group: str, cloud: str, *, engine: Engine | None = None, secrets_for: SecretsFor | None = None
) -> dict:
    engine = engine or get_engine()
    return sync_cloud(
        engine, group, cloud, lambda: keypair_store(engine, group, cloud, secrets_for), utcnow()
    )
