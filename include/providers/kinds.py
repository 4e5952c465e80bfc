"""What differs between kinds of cloud, as data: every "if the cloud is EC2" of the loop, the planner's
loader, validation and distribution reads it here, so a new kind of cloud is one entry (and its adapter)
rather than a search through the code. No imports: any layer may read it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CloudKind:
    name: str
    needs_connection: bool = True  # its credentials are an Airflow Connection
    required: tuple[str, ...] = ("connection_id",)  # configuration fields it cannot do without
    simulated: bool = False  # lives in the store; serves simulated pools only, and they only it
    spot: bool = False  # takes a spot bid (spot_price)
    shared_endpoint: bool = True  # rows naming the same endpoint, region and project share its quota
    unbounded_root_disk: bool = False  # the root disk is a volume sized at launch: flavour disk never limits
    images_unsupported: str | None = None  # why images cannot be copied to or from it (None: they can)
    keypairs_unsupported: str | None = None  # why keypairs cannot be managed through it


KINDS: dict[str, CloudKind] = {
    "openstack": CloudKind("openstack"),
    "amazon": CloudKind(
        "amazon",
        required=("region", "connection_id"),
        spot=True,
        unbounded_root_disk=True,
        images_unsupported=(
            "EC2 registers an image only from S3 (ImportImage/ImportSnapshot with the vmimport service role), "
            "which this deployment has no access to: register the AMI in the account yourself (or copy it "
            "between regions with `aws ec2 copy-image`) and name it in the cloud's vm settings"
        ),
    ),
    "simulated": CloudKind(
        "simulated",
        needs_connection=False,
        required=(),
        simulated=True,
        shared_endpoint=False,
        images_unsupported="a simulated cloud has no image service: its images are declared in its configuration",
        keypairs_unsupported="a simulated cloud has no keypairs",
    ),
    "libvirt": CloudKind(
        "libvirt",
        needs_connection=False,  # the URI says how to reach a host (qemu+ssh: the workers' SSH key)
        required=("libvirt",),
        shared_endpoint=False,
        images_unsupported=(
            "a libvirt cloud boots from a base image already in its storage pool on every hypervisor "
            "(virsh vol-upload, or the farm's own image sync): name that volume in the cloud's vm settings"
        ),
        keypairs_unsupported="a libvirt VM gets its SSH keys in its user-data, on its config disk",
    ),
}


def kind_of(cloud_type: str) -> CloudKind:
    """The kind of ``cloud_type``; an unknown one can do nothing (validation refuses it anyway)."""
    return KINDS.get(cloud_type) or CloudKind(
        cloud_type,
        images_unsupported=f"cloud type {cloud_type!r} has no image support",
        keypairs_unsupported=f"cloud type {cloud_type!r} has no keypair support",
    )
