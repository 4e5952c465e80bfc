"""The one module of include/ that reads Airflow Connections: a cloud's secrets (for ``include.clouds``)
and a group's pool credentials (for its VMs' templates).

Called only at task run time (never at DAG parse), so parsing makes no connection lookups.
OpenStack connections: host = auth URL (it wins over the cloud row's ``auth_url``; a row that names
another URL is refused: credentials go only where their Connection says), login/password, or
extras ``application_credential_id``/``application_credential_secret`` (or ``_name`` + login); extras
may also hold ``project_name``, ``user_domain_name``, ``project_domain_name``, ``region_name`` and
``timeout`` (seconds per HTTP request, default 60).
AWS connections: login = access key id, password = secret access key; extras ``region_name``,
``endpoint_url``, ``aws_session_token``.
Pool credentials for the VMs of a group: Connection ``cs_condor_<group>`` (see ``worker_secrets``).
The Shoal agents' broker: the Connection ``CS_SHOAL_AMQP_CONNECTION`` names (see ``amqp_connection``).
"""

from __future__ import annotations

from collections.abc import Mapping

from include.providers.base import ProviderError
from include.providers.factory import ConnectionSecrets
from include.providers.redaction import secret_values


def connection_secrets(conn_id: str, cloud_name: str) -> ConnectionSecrets:
    """The secrets of Airflow Connection ``conn_id``; a missing one is a ProviderError naming the cloud."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        raise ProviderError(cloud_name, f"Airflow connection {conn_id!r} is not defined") from None
    secrets = ConnectionSecrets(
        host=conn.host, login=conn.login, password=conn.password, extra=conn.extra_dejson
    )
    _mask_in_logs(secret_values(secrets.password, dict(secrets.extra)))
    return secrets


def _mask_in_logs(values) -> None:
    """Airflow masks a Connection's password in task logs; the secret extras and pool credentials too."""
    from airflow.sdk.log import mask_secret

    for value in values:
        if value:
            mask_secret(value)


WORKER_CONN_PREFIX = "cs_condor_"
# Connection field or extra -> the metadata template variable it fills (the original's names).
WORKER_SECRET_VARS = {
    "password": "cs_condor_token",
    "condorworker_cert": "cs_condorworker_cert",
    "condorworker_key": "cs_condorworker_key",
}


def worker_secrets(group: str) -> dict[str, str]:
    """What a group's VMs need to authenticate to its pool, for its metadata templates: Connection
    ``cs_condor_<group>`` holds an HTCondor IDTOKEN as its password and, for GSI/SSL sites, the extras
    ``condorworker_cert`` and ``condorworker_key``. No such Connection: no secret variables, so they render
    empty, as in csv2. Never stored in our tables or exports."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(WORKER_CONN_PREFIX + group)
    except AirflowNotFoundException:
        return {}
    fields = {"password": conn.password, **(conn.extra_dejson or {})}
    found = {var: str(fields[key]) for key, var in WORKER_SECRET_VARS.items() if fields.get(key)}
    _mask_in_logs(found.values())
    return found


def save_connection(
    conn_id: str,
    conn_type: str,
    *,
    host: str | None,
    login: str | None,
    password: str | None,
    extra: Mapping[str, object] | None = None,
) -> bool:
    """Create Airflow Connection ``conn_id`` (stored encrypted by Airflow's Fernet key) unless one of that
    name exists; returns whether it was created. For the csv2 importer, which runs where Airflow's
    metadata database is configured."""
    import json

    from airflow.models.connection import Connection as ConnectionRow
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        if session.scalar(select(ConnectionRow.conn_id).where(ConnectionRow.conn_id == conn_id)) is not None:
            return False
        session.add(ConnectionRow(conn_id=conn_id, conn_type=conn_type, host=host, login=login, password=password,
                                  extra=json.dumps(dict(extra or {}))))  # fmt: skip
    return True


def amqp_connection(conn_id: str) -> dict:
    """The broker the Shoal agents publish to, from Airflow Connection ``conn_id``: host, port, login,
    password, schema (the vhost, default ``/``); extras ``ssl`` (true: AMQPS, also implied by port 5671),
    ``ca_cert`` (PEM: the CA to trust instead of the system's), ``client_cert`` and ``client_key`` (PEM:
    a client certificate, for brokers that require one), ``verify`` (false: no certificate or host name
    check). Returns ``{"url", "ca_cert", "client_cert", "client_key", "verify"}``; a missing Connection
    is a ValueError naming it."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        raise ValueError(f"CS_SHOAL_AMQP_CONNECTION: Airflow connection {conn_id!r} is not defined") from None
    return _broker_of(conn)


async def amqp_connection_async(conn_id: str) -> dict:
    """:func:`amqp_connection` for a trigger, which runs in the triggerer's event loop."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = await Connection.async_get(conn_id)
    except AirflowNotFoundException:
        raise ValueError(f"CS_SHOAL_AMQP_CONNECTION: Airflow connection {conn_id!r} is not defined") from None
    return _broker_of(conn)


def _broker_of(conn) -> dict:
    from urllib.parse import quote

    extra = conn.extra_dejson or {}
    tls = str(extra.get("ssl", "")).lower() in ("1", "true", "yes") or conn.port == 5671
    auth = f"{quote(conn.login or 'guest', safe='')}:{quote(conn.password or '', safe='')}@"
    port = f":{conn.port}" if conn.port else ""
    vhost = quote(conn.schema or "/", safe="")
    found = {
        "url": f"{'amqps' if tls else 'amqp'}://{auth}{conn.host or 'localhost'}{port}/{vhost}",
        "ca_cert": extra.get("ca_cert") or None,
        "client_cert": extra.get("client_cert") or None,
        "client_key": extra.get("client_key") or None,
        "verify": str(extra.get("verify", "true")).lower() not in ("0", "false", "no", "off"),
    }
    _mask_in_logs([conn.password, found["client_key"]])
    return found
