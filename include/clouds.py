"""The one way to reach a cloud: :func:`connect` turns a cloud row into its adapter. A real cloud's
credentials come from its Airflow Connection (read through ``include/airflow_glue``, the only module
that reads Connections, at run time) and every error the adapter raises or reports is redacted of them;
a simulated cloud lives in the store and runs on the caller's clock. What distribution does with a
cloud goes through the adapter too: ``connect(...).image_store()`` / ``.keypair_store()``, which raise
``Unsupported`` where the cloud's kind cannot.

Tests and benchmarks pass ``secrets_for`` (a cloud row -> its ``ConnectionSecrets``) instead of
Connections.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from include.config.settings import load_settings
from include.providers.base import CloudAdapter, ProviderError, Unsupported
from include.providers.factory import ConnectionSecrets, build_adapter
from include.providers.kinds import kind_of
from include.providers.redaction import RedactingAdapter, Redactor, secret_values
from include.store.db import session_scope
from include.store.models import Cloud

SecretsFor = Callable[[Cloud], ConnectionSecrets]


def connection_secrets_of(cloud: Cloud) -> ConnectionSecrets:
    """The secrets of the cloud's Airflow Connection (a missing one is a ProviderError naming it)."""
    from include.airflow_glue import connection_secrets  # at run time only: it imports Airflow

    if not cloud.connection_id:
        raise ProviderError(cloud.name, "no connection_id configured")
    return connection_secrets(cloud.connection_id, cloud.name)


def connect(
    cloud: Cloud,
    settings: Mapping[str, Any],
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] | None = None,
    secrets_for: SecretsFor | None = None,
) -> CloudAdapter:
    """The adapter of ``cloud`` (a ``Cloud`` row). Simulated clouds need ``engine`` (they live in the
    store) and run on ``clock``."""
    if kind_of(cloud.cloud_type).simulated:
        from include.simulated.cloud import SimulatedCloud  # the demo's; a real site never loads it

        kw = {"clock": clock} if clock else {}
        return SimulatedCloud(cloud.name, cloud.group_name, engine, cloud.simulation, **kw)
    if not kind_of(cloud.cloud_type).needs_connection:
        return build_adapter(cloud, settings, ConnectionSecrets())
    secrets = (secrets_for or connection_secrets_of)(cloud)
    redactor = Redactor(secret_values(secrets.password, dict(secrets.extra)))
    try:
        adapter = build_adapter(cloud, settings, secrets)
    except ProviderError as err:
        raise redactor.error(err) from None
    return RedactingAdapter(adapter, redactor)


def connect_by_name(
    engine: Engine,
    group: str,
    cloud: str,
    *,
    clock: Callable[[], datetime] | None = None,
    secrets_for: SecretsFor | None = None,
) -> CloudAdapter:
    """:func:`connect` for the cloud ``group``/``cloud`` as the store has it now."""
    row, settings = load_cloud(engine, group, cloud)
    return connect(row, settings, engine=engine, clock=clock, secrets_for=secrets_for)


def load_cloud(engine: Engine, group: str, cloud: str) -> tuple[Cloud, dict]:
    with session_scope(engine) as s:
        row = s.get(Cloud, (group, cloud))
        if row is None:
            raise ProviderError(cloud, f"cloud {group}/{cloud} is no longer configured")
        s.expunge(row)
        return row, load_settings(s)


def image_stores(engine: Engine, secrets_for: SecretsFor | None = None) -> Callable[[str, str], Any]:
    """(group, cloud) -> that cloud's image store; Unsupported (before any credential is read) for a
    kind of cloud that takes no images."""

    def store(group: str, cloud: str):
        row, settings = load_cloud(engine, group, cloud)
        if reason := kind_of(row.cloud_type).images_unsupported:
            raise Unsupported(cloud, reason)
        return connect(row, settings, engine=engine, secrets_for=secrets_for).image_store()

    return store


def keypair_store(engine: Engine, group: str, cloud: str, secrets_for: SecretsFor | None = None):
    row, settings = load_cloud(engine, group, cloud)
    if reason := kind_of(row.cloud_type).keypairs_unsupported:
        raise Unsupported(cloud, reason)
    return connect(row, settings, engine=engine, secrets_for=secrets_for).keypair_store()
