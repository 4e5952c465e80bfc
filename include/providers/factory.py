"""Build the adapter for a cloud row from its settings and the secrets of its Airflow Connection.

Pure of Airflow: ``include/clouds.py`` reads the Connection (through ``include/airflow_glue.py``) and
calls :func:`build_adapter`; tests call it with secrets of their own. Which kind gets which adapter is
the ``BUILDERS`` table; what else differs between kinds is data in ``kinds.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from include.providers.base import CloudAdapter, ProviderError
from include.providers.kinds import kind_of
from include.providers.ratelimit import TokenBucket

# The adapters and their credentials are imported where a cloud of that kind is built: each loads its
# SDK (openstacksdk, boto3), which a DAG file or a site with one kind of cloud should not pay for.


@dataclass(frozen=True)
class ConnectionSecrets:
    """The parts of an Airflow Connection an adapter reads; ``password`` never appears in a repr."""

    host: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)


def rate_bucket(cloud, settings: Any) -> TokenBucket:
    """The cloud's request bucket: its own rate/burst, else the settings' defaults (near EC2's)."""
    rate = cloud.rate_per_second if cloud.rate_per_second is not None else settings.default_rate_per_second
    burst = cloud.rate_burst if cloud.rate_burst is not None else settings.default_rate_burst
    return TokenBucket(rate, burst)


def where_credentials_go(
    cloud, field_name: str, row_value: str | None, connection_value: str | None
) -> str | None:
    """The Connection's endpoint (or CA bundle) wins over the cloud row's: the Connection is where a site
    operator put the secret, so it says where the secret may be sent. A row naming another one is
    refused rather than silently ignored, so an operator notices the conflict."""
    if row_value and connection_value and row_value.rstrip("/") != connection_value.rstrip("/"):
        raise ProviderError(
            cloud.name,
            f"field '{field_name}': the cloud says {row_value!r} but its Connection "
            f"says {connection_value!r}; credentials go only where their Connection says, so "
            "a site operator must make them agree (or empty the cloud's field)",
        )
    return connection_value or row_value


def openstack_credentials(cloud, secrets: ConnectionSecrets):
    from include.providers.openstack_http import OpenStackCredentials

    x = dict(secrets.extra or {})
    auth_url = where_credentials_go(cloud, "auth_url", cloud.auth_url, secrets.host or x.get("auth_url"))
    if not auth_url:
        raise ProviderError(cloud.name, "no auth_url on the cloud or its connection")
    return OpenStackCredentials(
        auth_url=auth_url,
        project_name=cloud.project or x.get("project_name"),
        username=secrets.login or x.get("username"),
        password=secrets.password,
        user_domain_name=cloud.user_domain_name or x.get("user_domain_name") or "Default",
        project_domain_name=cloud.project_domain_name or x.get("project_domain_name") or "Default",
        application_credential_id=x.get("application_credential_id"),
        application_credential_name=x.get("application_credential_name"),
        application_credential_secret=x.get("application_credential_secret"),
        region_name=cloud.region or x.get("region_name"),
        cacert=where_credentials_go(cloud, "ca_bundle", cloud.ca_bundle, x.get("cacert")),
        interface=x.get("interface", "public"),
        timeout_s=_timeout(cloud.name, x.get("timeout", 60.0)),
    )


def _timeout(cloud_name: str, value) -> float:
    """The connection extra ``timeout``: seconds each HTTP request may take (default 60)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if not 0 < seconds <= 3600:
        raise ProviderError(
            cloud_name, f"connection extra 'timeout': {value!r} is not a number of seconds in (0, 3600]"
        )
    return seconds


def ec2_credentials(cloud, secrets: ConnectionSecrets):
    from include.providers.ec2_http import Ec2Credentials

    x = dict(secrets.extra or {})
    if not secrets.login or not secrets.password:
        raise ProviderError(cloud.name, "the connection has no access key id (login) or secret (password)")
    return Ec2Credentials(
        access_key_id=secrets.login,
        secret_access_key=secrets.password,
        region_name=cloud.region or x.get("region_name") or "us-east-1",
        endpoint_url=where_credentials_go(cloud, "auth_url", cloud.auth_url, x.get("endpoint_url")),
        session_token=x.get("aws_session_token"),
        ca_bundle=where_credentials_go(cloud, "ca_bundle", cloud.ca_bundle, x.get("ca_bundle")),
    )


def build_adapter(cloud, settings: Any, secrets: ConnectionSecrets | None = None) -> CloudAdapter:
    """The adapter of a real cloud's ``Cloud`` row (``include.clouds.connect`` builds simulated ones)."""
    if secrets is None:
        raise ProviderError(cloud.name, f"connection {cloud.connection_id!r} not found")
    build = BUILDERS.get(cloud.cloud_type)
    if build is None:
        raise ProviderError(cloud.name, f"unknown cloud type {cloud.cloud_type!r}")
    return build(cloud, settings, secrets)


def _openstack(cloud, settings: Any, secrets: ConnectionSecrets) -> CloudAdapter:
    from include.providers.openstack import OpenStackCloud

    return OpenStackCloud(
        cloud.name, openstack_credentials(cloud, secrets), bucket=rate_bucket(cloud, settings)
    )


def _ec2(cloud, settings: Any, secrets: ConnectionSecrets) -> CloudAdapter:
    from include.providers.ec2 import Ec2Cloud

    return Ec2Cloud(
        cloud.name,
        ec2_credentials(cloud, secrets),
        bucket=rate_bucket(cloud, settings),
        spot=kind_of(cloud.cloud_type).spot and bool(cloud.spot_price and cloud.spot_price > 0),
    )


def _libvirt(cloud, settings: Any, secrets: ConnectionSecrets) -> CloudAdapter:
    from include.providers.libvirt import LibvirtCloud, LibvirtSettings

    if not cloud.libvirt:
        raise ProviderError(cloud.name, "a libvirt cloud needs its libvirt block (hypervisors, flavors)")
    return LibvirtCloud(cloud.name, LibvirtSettings.from_row(cloud.libvirt))


BUILDERS = {"openstack": _openstack, "amazon": _ec2, "libvirt": _libvirt}
