"""The configuration document (YAML) as typed models. Shape and field checks live here; checks that
span objects (references, duplicates) live in ``validate.py``.

Every model forbids unknown keys and coerces nothing: a typo or a quoted number is an error that names
the object and the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

# Every number is bounded: a value the database cannot store (an int over 32 bits) is a validation error
# naming the field, not a crash at apply time.
INT_MAX = 2**31 - 1
FLOAT_MAX = 1e12

Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
"""Group, cloud, alias names: lowercase letters, digits and dashes, 1-32 chars, starting with a letter.
They end up in VM host names, so they must be valid DNS labels."""

ItemName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Limit = Annotated[int, Field(ge=-1, le=INT_MAX)]  # -1 = unset
MimeType = Literal["cloud-config", "ucernvm-config", "text/x-shellscript", "text/cloud-boothook"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class Metadata(Strict):
    name: ItemName
    text: str
    enabled: bool = True
    priority: Annotated[int, Field(ge=0, le=INT_MAX)] = 0
    mime_type: MimeType = "cloud-config"


class BootVolume(Strict):
    gb: Annotated[int, Field(ge=1, le=INT_MAX)] = 10
    gb_per_core: Annotated[int, Field(ge=0, le=INT_MAX)] = 0
    volume_type: str | None = None


class GroupVmDefaults(Strict):
    """The group's VM settings, used where a cloud sets nothing."""

    image: str | None = None
    flavor: str | None = None
    keyname: str | None = None
    network: str | None = None
    security_groups: list[str] = []
    keep_alive: Annotated[int, Field(ge=0, le=INT_MAX)] = 300


class CloudVmSettings(Strict):
    """A cloud's VM settings; a missing value inherits the group's."""

    image: str | None = None
    flavor: str | None = None
    keyname: str | None = None
    network: str | None = None
    security_groups: list[str] | None = None
    keep_alive: Annotated[int, Field(ge=0, le=INT_MAX)] | None = None
    boot_volume: BootVolume | None = None


class Limits(Strict):
    cores_ctl: Limit = -1
    cores_softmax: Limit = -1
    ram_ctl: Limit = -1
    max_vms: Limit = -1


class RateLimit(Strict):
    per_second: Annotated[float, Field(gt=0, le=1000)]
    burst: Annotated[int, Field(ge=1, le=10000)]


class SimFlavor(Strict):
    name: ItemName
    cores: Annotated[int, Field(ge=1, le=INT_MAX)]
    ram_mb: Annotated[int, Field(ge=1, le=INT_MAX)]
    disk_gb: Annotated[float, Field(ge=0, le=FLOAT_MAX)] = 20
    swap_gb: Annotated[float, Field(ge=0, le=FLOAT_MAX)] = 0


class SimFailures(Strict):
    """Failures a simulated cloud injects, for demos and tests."""

    capacity_error_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    error_state_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    never_register_rate: Annotated[float, Field(ge=0, le=1)] = 0.0
    down: bool = False  # every API call fails as if the endpoint were unreachable


class Simulation(Strict):
    boot_delay_s: Annotated[int, Field(ge=0, le=INT_MAX)] = 60
    register_delay_s: Annotated[int, Field(ge=0, le=INT_MAX)] = 20
    quota_cores: Limit = -1
    quota_ram_mb: Limit = -1
    quota_instances: Limit = -1
    flavors: list[SimFlavor] = []
    images: list[ItemName] = []
    failures: SimFailures = SimFailures()


class LibvirtFlavor(Strict):
    name: ItemName
    cores: Annotated[int, Field(ge=1, le=1024)]
    ram_mb: Annotated[int, Field(ge=1, le=INT_MAX)]
    disk_gb: Annotated[float, Field(ge=0, le=FLOAT_MAX)] = 20


HypervisorUri = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9+]*://[^\s]*$", max_length=1024)]


class LibvirtBlock(Strict):
    """A hypervisor farm: the hosts, the flavours a VM may have there, where base images and VM disks
    live. The cloud's ``vm.image`` names the base image, a volume of ``storage_pool`` on every host."""

    hypervisors: Annotated[list[HypervisorUri], Field(min_length=1, max_length=10000)]
    flavors: Annotated[list[LibvirtFlavor], Field(min_length=1)]
    storage_pool: ItemName = "default"
    network: ItemName = "default"  # a libvirt network defined on every host
    domain_type: Literal["kvm", "qemu", "test"] = "kvm"  # qemu: software emulation (TCG), no KVM
    # Overcommit, as Nova's allocation ratios: what a host offers is its CPUs (memory) times this.
    cpu_allocation_ratio: Annotated[float, Field(gt=0, le=64)] = 1.0
    ram_allocation_ratio: Annotated[float, Field(gt=0, le=8)] = 1.0
    boots_per_host: Annotated[int, Field(ge=1, le=32)] = 4  # guests being created at once on one host


class CloudConfig(Strict):
    name: Name
    type: Literal["openstack", "amazon", "simulated", "libvirt"]
    enabled: bool = True
    paused: bool = False
    priority: Annotated[int, Field(ge=0, le=INT_MAX)] = 0
    auth_url: str | None = None
    region: str | None = None
    project: str | None = None
    user_domain_name: str | None = None
    project_domain_name: str | None = None
    connection_id: str | None = None
    ca_bundle: str | None = None
    credential_expiry: datetime | None = None
    vm: CloudVmSettings = CloudVmSettings()
    spot_price: float = -1.0
    # What a VM of each flavour costs per hour here (on demand), for jobs' VMMaximumPrice; EC2 spot
    # clouds use the current spot price instead.
    flavor_prices: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=255)], Annotated[float, Field(ge=0, le=1e6)]
    ] = {}
    limits: Limits = Limits()
    max_boot_per_cycle: Annotated[int, Field(ge=0, le=INT_MAX)] | None = None
    rate_limit: RateLimit | None = None
    delete_on_job_completion: bool | None = None
    flavor_exclusions: list[str] = []
    metadata_exclusions: list[ItemName] = []
    metadata: list[Metadata] = []
    simulation: Simulation | None = None
    libvirt: LibvirtBlock | None = None

    @field_validator("spot_price")
    @classmethod
    def _spot(cls, v: float) -> float:
        if v != -1 and not 0 < v <= 1e6:
            raise ValueError("must be -1 (on demand) or a positive bid")
        return v

    @field_validator("credential_expiry", mode="before")
    @classmethod
    def _expiry(cls, v: Any) -> Any:
        # YAML gives datetimes natively; a string is accepted in ISO form for hand-written files.
        return datetime.fromisoformat(v) if isinstance(v, str) else v


class PoolConfig(Strict):
    kind: Literal["htcondor", "simulated"] = "htcondor"
    collector: str | None = None
    schedds: list[str] = []
    container_hostname: str | None = None


class JobDefaults(Strict):
    cores: Annotated[int, Field(ge=1, le=1024)] = 1
    ram_mb: Annotated[int, Field(ge=1, le=INT_MAX)] = 1000
    disk_gb: Annotated[float, Field(ge=0, le=FLOAT_MAX)] = 5.0
    swap_gb: Annotated[float, Field(ge=0, le=FLOAT_MAX)] = 0.0


class KeyConfig(Strict):
    name: ItemName
    public_key: Annotated[str, StringConstraints(pattern=r"^(ssh-|ecdsa-)\S+ \S+")]
    clouds: list[Name] = []


class ImageConfig(Strict):
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    checksum: str | None = None
    clouds: list[Name] = []


class GroupConfig(Strict):
    name: Name
    pool: PoolConfig = PoolConfig()
    other_submitters: list[str] = []
    job_defaults: JobDefaults = JobDefaults()
    vm_defaults: GroupVmDefaults = GroupVmDefaults()
    delete_on_job_completion: bool = False
    public_visibility: bool = False
    metadata: list[Metadata] = []
    aliases: dict[Name, list[Name]] = {}
    keys: list[KeyConfig] = []
    images: list[ImageConfig] = []
    clouds: list[CloudConfig] = []


Role = Literal["viewer", "editor"]


class Configuration(Strict):
    """The whole configuration, as exported and applied."""

    settings: dict[str, Any] = {}
    users: dict[str, dict[Name, Role]] = {}
    groups: list[GroupConfig] = []
