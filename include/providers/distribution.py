"""Which clouds can take images and keypairs through their API, and the stores that do it.

Like ``factory.build_adapter``, pure of Airflow: the caller passes the secrets of the cloud's Connection
(include/images and include/keys get them through include/airflow_glue at task run time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from include.providers.base import ProviderError
from include.providers.factory import ConnectionSecrets, ec2_credentials, openstack_credentials, rate_bucket

IMAGES_UNSUPPORTED = {
    "amazon": "EC2 registers an image only from S3 (ImportImage/ImportSnapshot with the vmimport service "
    "role), which this deployment has no access to: register the AMI in the account yourself (or copy it "
    "between regions with `aws ec2 copy-image`) and name it in the cloud's vm settings",
    "simulated": "a simulated cloud has no image service: its images are declared in its configuration",
}
KEYPAIRS_UNSUPPORTED = {"simulated": "a simulated cloud has no keypairs"}


class Unsupported(ProviderError):
    """The cloud cannot do this through its API: a lasting state to show, not a failure to retry."""


def images_unsupported(cloud_type: str) -> str | None:
    """Why a cloud of this type cannot receive or give image data, or None when it can."""
    if cloud_type == "openstack":
        return None
    return IMAGES_UNSUPPORTED.get(cloud_type, f"cloud type {cloud_type!r} has no image support")


def keypairs_unsupported(cloud_type: str) -> str | None:
    if cloud_type in ("openstack", "amazon"):
        return None
    return KEYPAIRS_UNSUPPORTED.get(cloud_type, f"cloud type {cloud_type!r} has no keypair support")


def image_store_for(cloud, settings: Mapping[str, Any], secrets: ConnectionSecrets | None):
    """The image store (Glance) of a ``Cloud`` row; Unsupported for other cloud types."""
    reason = images_unsupported(cloud.cloud_type)
    if reason:
        raise Unsupported(cloud.name, reason)
    from include.providers.openstack_images import GlanceImages

    return GlanceImages(
        cloud.name,
        openstack_credentials(cloud, _required(cloud, secrets)),
        bucket=rate_bucket(cloud, settings),
    )


def keypair_store_for(cloud, settings: Mapping[str, Any], secrets: ConnectionSecrets | None):
    """The keypairs of a ``Cloud`` row (Nova or EC2); Unsupported for other cloud types."""
    reason = keypairs_unsupported(cloud.cloud_type)
    if reason:
        raise Unsupported(cloud.name, reason)
    from include.providers.keypairs import Ec2Keypairs, NovaKeypairs

    secrets = _required(cloud, secrets)
    if cloud.cloud_type == "openstack":
        return NovaKeypairs(
            cloud.name, openstack_credentials(cloud, secrets), bucket=rate_bucket(cloud, settings)
        )
    return Ec2Keypairs(cloud.name, ec2_credentials(cloud, secrets), bucket=rate_bucket(cloud, settings))


def _required(cloud, secrets: ConnectionSecrets | None) -> ConnectionSecrets:
    if secrets is None:
        raise ProviderError(cloud.name, f"connection {cloud.connection_id!r} not found")
    return secrets
