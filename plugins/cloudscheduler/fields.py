"""The fields of each configuration form, named by their path in the configuration document (F1).

Credentials are not among them: a cloud names the Airflow Connection that holds its secrets.
"""

from __future__ import annotations

from cloudscheduler.forms import Field

CLOUD_TYPES = ("openstack", "amazon", "simulated", "libvirt")
MIME_TYPES = ("cloud-config", "ucernvm-config", "text/x-shellscript", "text/cloud-boothook")

CLOUD_SECTIONS: tuple[tuple[str, tuple[Field, ...]], ...] = (
    (
        "Cloud",
        (
            Field("type", "Cloud type", "choice", optional=False, choices=CLOUD_TYPES),
            Field(
                "enabled", "Enabled", "bool", help="a disabled cloud boots nothing and its VMs are retired"
            ),
            Field("paused", "Paused", "bool", help="no boots; running VMs are kept"),
            Field("priority", "Priority", "int", optional=False, help="lower boots first"),
            Field("spot_price", "Spot price", "float", optional=False, help="-1 = on demand; amazon only"),
            Field(
                "delete_on_job_completion",
                "Delete VM when its job ends",
                "tristate",
                help="empty: the group's setting",
            ),
        ),
    ),
    (
        "Endpoint",
        (
            Field(
                "auth_url",
                "Endpoint URL",
                operator_only=True,
                help="Keystone URL (openstack) or EC2 endpoint; empty: the Connection's host. Site operators only",
            ),
            Field("region", "Region"),
            Field("project", "Project"),
            Field("user_domain_name", "User domain"),
            Field("project_domain_name", "Project domain"),
            Field(
                "connection_id",
                "Airflow Connection",
                help="holds the credentials (password, application "
                "credential or access keys); one of the Connections a site operator lets this group use",
            ),
            Field("ca_bundle", "CA bundle path", operator_only=True, help="site operators only"),
            Field(
                "credential_expiry",
                "Credential expiry",
                "datetime",
                help="ISO time, e.g. 2026-12-31T00:00:00+00:00",
            ),
        ),
    ),
    (
        "VM settings (empty: the group's default)",
        (
            Field("vm.image", "Image"),
            Field("vm.flavor", "Flavour"),
            Field("vm.keyname", "Key name"),
            Field("vm.network", "Network"),
            Field("vm.security_groups", "Security groups", "list", help="comma separated"),
            Field("vm.keep_alive", "Keep-alive (s)", "int", help="seconds an idle VM is kept"),
            Field("vm.boot_volume.gb", "Boot volume base (GB)", "int"),
            Field("vm.boot_volume.gb_per_core", "Boot volume per core (GB)", "int"),
            Field("vm.boot_volume.volume_type", "Boot volume type"),
        ),
    ),
    (
        "Limits (-1 = unset)",
        (
            Field("limits.cores_ctl", "Cores control", "int", optional=False),
            Field("limits.cores_softmax", "Cores soft-max", "int", optional=False),
            Field("limits.ram_ctl", "RAM control (MB)", "int", optional=False),
            Field("limits.max_vms", "Max VMs", "int", optional=False),
            Field("max_boot_per_cycle", "Boots per cycle", "int", help="empty: the global setting"),
            Field("rate_limit.per_second", "API requests per second", "float", help="empty: the default"),
            Field("rate_limit.burst", "API request burst", "int"),
        ),
    ),
    (
        "Hypervisor farm (libvirt clouds only; their flavours are set in the YAML)",
        (
            Field(
                "libvirt.hypervisors",
                "Hypervisor URIs",
                "list",
                operator_only=True,
                help="qemu+ssh://host/system, one per host; site operators only",
            ),
            Field(
                "libvirt.storage_pool",
                "Storage pool",
                help="holds the base image on every host; empty: default",
            ),
            Field(
                "libvirt.network", "Network", help="a libvirt network on every host, or user; empty: default"
            ),
            Field("libvirt.domain_type", "Domain type", "choice", choices=("kvm", "qemu", "test")),
            Field("libvirt.cpu_allocation_ratio", "CPU allocation ratio", "float", help="empty: 1.0"),
            Field("libvirt.ram_allocation_ratio", "RAM allocation ratio", "float", help="empty: 1.0"),
            Field("libvirt.boots_per_host", "Boots at once per host", "int", help="empty: 4"),
        ),
    ),
)
CLOUD_FIELDS = tuple(f for _, fields in CLOUD_SECTIONS for f in fields)
CLOUD_OPTIONAL_OBJECTS = {
    "vm.boot_volume": ("gb", "gb_per_core", "volume_type"),
    "rate_limit": ("per_second", "burst"),
    "libvirt": ("hypervisors",),  # a cloud without hypervisors has no libvirt block
}
CLOUD_DEFAULTS_APPLY = ("libvirt",)  # its fields left empty take the schema's defaults

GROUP_SECTIONS: tuple[tuple[str, tuple[Field, ...]], ...] = (
    (
        "HTCondor pool",
        (
            Field(
                "pool.kind",
                "Pool kind",
                "choice",
                optional=False,
                choices=("htcondor", "simulated"),
                operator_only=True,
            ),
            Field("pool.collector", "Collector host", operator_only=True, help="site operators only"),
            Field(
                "pool.schedds",
                "Schedds",
                "list",
                optional=False,
                operator_only=True,
                help="empty: every schedd of the pool; site operators only",
            ),
            Field("pool.container_hostname", "Container host name"),
            Field(
                "other_submitters",
                "Other submitters",
                "list",
                optional=False,
                help="job owners accepted besides group members; ALL admits anyone",
            ),
        ),
    ),
    (
        "Job defaults (for jobs that state nothing)",
        (
            Field("job_defaults.cores", "Cores", "int", optional=False),
            Field("job_defaults.ram_mb", "RAM (MB)", "int", optional=False),
            Field("job_defaults.disk_gb", "Disk (GB)", "float", optional=False),
            Field("job_defaults.swap_gb", "Swap (GB)", "float", optional=False),
        ),
    ),
    (
        "VM defaults",
        (
            Field("vm_defaults.image", "Image"),
            Field("vm_defaults.flavor", "Flavour"),
            Field("vm_defaults.keyname", "Key name"),
            Field("vm_defaults.network", "Network"),
            Field("vm_defaults.security_groups", "Security groups", "list", optional=False),
            Field("vm_defaults.keep_alive", "Keep-alive (s)", "int", optional=False),
            Field("delete_on_job_completion", "Delete VM when its job ends", "bool"),
            Field("public_visibility", "Public status page", "bool"),
        ),
    ),
)
GROUP_FIELDS = tuple(f for _, fields in GROUP_SECTIONS for f in fields)

METADATA_FIELDS = (
    Field("name", "Name", optional=False, help="ends in .j2 to render as a Jinja template"),
    Field("enabled", "Enabled", "bool"),
    Field("priority", "Priority", "int", optional=False, help="lower comes first in the user data"),
    Field("mime_type", "MIME type", "choice", optional=False, choices=MIME_TYPES),
    Field("text", "Text", "textarea", optional=False),
)
