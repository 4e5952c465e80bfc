"""The cloud protocol every adapter implements, the values it speaks in, and the errors it raises.

Adapters import this module and the scheduler's model, never each other and never Airflow. Every error
carries the cloud's name and a message safe to log: no credentials, no tokens, no user-data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from include.scheduler.states import VmStatus

__all__ = [
    "AuthError",
    "CapacityError",
    "CloudAdapter",
    "CloudVm",
    "CreateResult",
    "Flavor",
    "Image",
    "Keypair",
    "Limits",
    "Network",
    "ProviderError",
    "QuotaError",
    "SecurityGroup",
    "TransientError",
    "VmSpec",
    "VmStatus",
    "ErrorKind",
    "classify_fault",
    "TAG_VM_ID",
    "TAG_GROUP",
    "TAG_CLOUD",
    "TAG_DEPLOYMENT",
    "TAG_REQUEST",
    "TAG_ALIAS",
    "TAG_KEEP_ALIVE",
]

# Tag / metadata keys on every VM we boot; a VM carrying TAG_DEPLOYMENT == ours and TAG_GROUP/TAG_CLOUD
# of this cloud is ours (adopted if we have no row), anything else in the project is foreign.
TAG_VM_ID, TAG_GROUP, TAG_CLOUD = "cs_vm_id", "cs_group", "cs_cloud"
TAG_DEPLOYMENT, TAG_REQUEST = "cs_deployment", "cs_request"
# Set by the control loop (VmSpec.extra_tags) so an adopted VM gets its alias and keep-alive back.
TAG_ALIAS, TAG_KEEP_ALIVE = "cs_alias", "cs_keep_alive"


class ProviderError(Exception):
    """A cloud call failed in a way that retrying the same call will not fix."""

    def __init__(self, cloud: str, message: str):
        super().__init__(f"cloud {cloud}: {message}")
        self.cloud = cloud
        self.message = message


class CapacityError(ProviderError):
    """The cloud has no room for this flavour now (EC2 InsufficientInstanceCapacity, Nova NoValidHost)."""


class QuotaError(ProviderError):
    """The project's quota forbids it (Nova 403 quota, EC2 VcpuLimitExceeded/InstanceLimitExceeded)."""


class AuthError(ProviderError):
    """Credentials rejected or expired beyond re-authentication."""


class TransientError(ProviderError):
    """Throttled, timed out or a 5xx: retried with back-off, then raised if it persists. ``maybe_acted``:
    the cloud may have carried the request out (a timeout, a reply lost after it was sent), so a create
    that failed so may have made its VM, which the next poll will list."""

    maybe_acted: bool = False


class Unsupported(ProviderError):
    """The cloud cannot do this through its API: a lasting state to show, not a failure to retry."""


class ErrorKind(StrEnum):
    CAPACITY = "capacity"
    QUOTA = "quota"
    OTHER = "other"


_CAPACITY_WORDS = ("no valid host", "insufficientinstancecapacity", "insufficient capacity")
_QUOTA_WORDS = ("quota exceeded", "vcpulimitexceeded", "instancelimitexceeded", "quota")


def classify_fault(text: str | None) -> ErrorKind | None:
    """The kind of a VM's fault text (a Nova ``fault.message``, an EC2 state reason), for back-off."""
    if not text:
        return None
    low = text.lower()
    if any(w in low for w in _CAPACITY_WORDS):
        return ErrorKind.CAPACITY
    if any(w in low for w in _QUOTA_WORDS):
        return ErrorKind.QUOTA
    return ErrorKind.OTHER


@dataclass(frozen=True)
class VmSpec:
    """What to boot. VM ids are ``f"{request_id}-{i}"``, i = 1..count; the id is the VM's cloud name.

    ``user_data`` renders the complete (gzipped MIME) user-data of one VM from its id; it is called once
    per VM because the ``cs_vm_id`` template variable differs. ``tags`` are the common tags; each VM
    also gets ``cs_vm_id``. ``boot_volume_gb`` > 0 boots OpenStack VMs from a new volume of that size.
    """

    group: str
    cloud: str
    request_id: str
    flavor: str
    image: str
    deployment: str = "cs"
    keypair: str | None = None
    network: str | None = None
    security_groups: tuple[str, ...] = ()
    user_data: Callable[[str], bytes] | None = None
    boot_volume_gb: int = 0
    boot_volume_type: str | None = None
    spot_price: float | None = None  # None = on demand
    extra_tags: Mapping[str, str] = field(default_factory=dict)

    def vm_ids(self, count: int) -> list[str]:
        return [f"{self.request_id}-{i}" for i in range(1, count + 1)]

    def tags_for(self, vm_id: str) -> dict[str, str]:
        return {
            **self.extra_tags,
            TAG_VM_ID: vm_id,
            TAG_GROUP: self.group,
            TAG_CLOUD: self.cloud,
            TAG_DEPLOYMENT: self.deployment,
            TAG_REQUEST: self.request_id,
        }


def boot_volume_gb(boot_volume: Mapping | None, cores: int) -> int:
    """A cloud's boot volume size for a flavour of ``cores``: base + per-core x cores (0 = no volume)."""
    if not boot_volume:
        return 0
    return int(boot_volume.get("gb", 0)) + int(boot_volume.get("gb_per_core", 0)) * cores


def client_token(vm_id: str) -> str:
    """An idempotency token (EC2 allows 64 ASCII characters) derived from the VM id alone."""
    return vm_id if len(vm_id) <= 64 and vm_id.isascii() else hashlib.sha256(vm_id.encode()).hexdigest()


@dataclass(frozen=True)
class CreateResult:
    """The outcome for one VM of a create: ``cloud_vm_id`` set on success (``existed`` when a retry found
    it already made), ``error`` set on failure. A multi-create reports each VM on its own."""

    vm_id: str
    cloud_vm_id: str | None = None
    existed: bool = False
    error: ProviderError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.cloud_vm_id is not None


@dataclass(frozen=True)
class CloudVm:
    """One VM as the cloud lists it. ``tags`` hold our cs_* keys when it is ours; ``name`` is the cloud
    name (our vm_id for our VMs). ``cores``/``ram_mb`` count toward foreign usage when it is not ours."""

    cloud_vm_id: str
    name: str
    status: VmStatus
    cloud_status: str
    flavor: str | None = None
    image: str | None = None
    cores: int = 0
    ram_mb: int = 0
    ips: tuple[str, ...] = ()
    created_at: datetime | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    spot: bool = False
    error: str | None = None

    @property
    def vm_id(self) -> str | None:
        return self.tags.get(TAG_VM_ID)


@dataclass(frozen=True)
class Flavor:
    name: str
    flavor_id: str
    cores: int
    ram_mb: int
    disk_gb: float = 0.0
    ephemeral_gb: float = 0.0
    swap_gb: float = 0.0
    is_public: bool = True
    price: float | None = None


@dataclass(frozen=True)
class Image:
    image_id: str
    name: str
    checksum: str | None = None
    size: int | None = None
    disk_format: str | None = None
    container_format: str | None = None
    visibility: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Keypair:
    name: str
    fingerprint: str = ""


@dataclass(frozen=True)
class Network:
    network_id: str
    name: str
    shared: bool = False
    external: bool = False


@dataclass(frozen=True)
class SecurityGroup:
    sg_id: str
    name: str


@dataclass(frozen=True)
class Limits:
    """Quota and usage of the whole project as the cloud reports it; -1 = unlimited or not reported."""

    cores_max: int = -1
    cores_used: int = 0
    ram_max_mb: int = -1
    ram_used_mb: int = 0
    instances_max: int = -1
    instances_used: int = 0
    volumes_max: int = -1
    volumes_used: int = 0
    volume_gb_max: int = -1
    volume_gb_used: int = 0
    # What the cloud says of the credentials in use: when they stop working (an application
    # credential's expires_at; None = never or not reported) and when the current token does.
    credential_kind: str = ""  # application_credential | password | access_key
    credential_expires_at: datetime | None = None
    token_expires_at: datetime | None = None


@runtime_checkable
class CloudAdapter(Protocol):
    """One cloud (one group's view of one project/account and region)."""

    name: str
    user_data_max_bytes: int  # the largest (gzipped) user-data the cloud accepts, before base64

    def list_vms(self) -> list[CloudVm]:
        """Every VM in the project, ours and foreign, by pages, without per-VM calls."""
        ...

    def create_vms(self, spec: VmSpec, count: int) -> list[CreateResult]:
        """Create VMs ``spec.vm_ids(count)``; idempotent: VMs that already exist are returned with
        ``existed=True`` and not made again. Raises only when nothing could be attempted (auth, cloud
        down); per-VM failures (capacity, quota) are in the results."""
        ...

    def delete_vm(self, vm_id: str, cloud_vm_id: str | None = None) -> None:
        """Delete a VM by its cloud id (or find it by name). A VM that is already gone is success."""
        ...

    def flavors(self) -> list[Flavor]: ...

    def images(self, also: Sequence[str] = ()) -> list[Image]:
        """The images the project can boot; ``also``: ids (or names) to look up explicitly, for images
        a listing leaves out (public AMIs, community Glance images)."""
        ...

    def keypairs(self) -> list[Keypair]: ...

    def networks(self) -> list[Network]: ...

    def security_groups(self) -> list[SecurityGroup]: ...

    def limits(self) -> Limits: ...
