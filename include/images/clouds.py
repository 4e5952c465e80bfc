"""Reaching a cloud at task run time: its row and settings from the store, the secrets of its Airflow
Connection (through include/airflow_glue, the one module that reads Connections), and the store the
providers package builds for it. Shared by images and keys; tests pass secrets of their own.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from include.config.settings import load_settings
from include.providers.base import ProviderError
from include.providers.distribution import (
    image_store_for,
    images_unsupported,
    keypair_store_for,
    keypairs_unsupported,
)
from include.providers.factory import ConnectionSecrets
from include.store.db import session_scope
from include.store.models import Cloud

SecretsFor = Callable[[Cloud], ConnectionSecrets]


def connection_secrets_of(cloud: Cloud) -> ConnectionSecrets:
    from include.airflow_glue import connection_secrets

    if not cloud.connection_id:
        raise ProviderError(cloud.name, "no connection_id configured")
    return connection_secrets(cloud.connection_id, cloud.name)


def load_cloud(engine: Engine, group: str, cloud: str) -> tuple[Cloud, dict]:
    with session_scope(engine) as s:
        row = s.get(Cloud, (group, cloud))
        if row is None:
            raise ProviderError(cloud, f"cloud {group}/{cloud} is no longer configured")
        s.expunge(row)
        return row, load_settings(s)


def image_stores(engine: Engine, secrets_for: SecretsFor | None = None) -> Callable[[str, str], object]:
    """(group, cloud) -> that cloud's image store; raises Unsupported for clouds without one."""
    secrets_for = secrets_for or connection_secrets_of

    def store(group: str, cloud: str):
        row, settings = load_cloud(engine, group, cloud)
        secrets = None if images_unsupported(row.cloud_type) else secrets_for(row)
        return image_store_for(row, settings, secrets)

    return store


def keypair_store(engine: Engine, group: str, cloud: str, secrets_for: SecretsFor | None = None):
    row, settings = load_cloud(engine, group, cloud)
    secrets = None if keypairs_unsupported(row.cloud_type) else (secrets_for or connection_secrets_of)(row)
    return keypair_store_for(row, settings, secrets)
