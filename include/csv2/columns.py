"""Every column of csv2's ``csv2_groups`` and ``csv2_clouds`` (and the ``csv2_configuration`` tunables):
where it goes in our configuration, or why it is dropped. The importer reads these tables and the
tests check that no column of csv2's schema is left unaccounted for."""

from __future__ import annotations

# column -> our field (a path in the group or cloud of the document, or "connection" for a secret that
# becomes part of the cloud's Airflow Connection), or None with the reason it is dropped.
GROUP_COLUMNS: dict[str, tuple[str | None, str]] = {
    "group_name": ("name", ""),
    "htcondor_fqdn": ("pool.collector", ""),
    "htcondor_host_id": (None, "computed by csv2 from htcondor_fqdn; we reach the pool by its name"),
    "htcondor_gsi_dn": (None, "filled by csv2's GSI poller (runtime state)"),
    "htcondor_gsi_eol": (None, "filled by csv2's GSI poller (runtime state)"),
    "htcondor_container_hostname": ("pool.container_hostname", ""),
    "htcondor_other_submitters": ("other_submitters", ""),
    "job_cpus": ("job_defaults.cores", ""),
    "job_ram": ("job_defaults.ram_mb", ""),
    "job_disk": ("job_defaults.disk_gb", ""),
    "job_scratch": (None, "our job shape has no scratch resource (csv2 used it for display only)"),
    "job_swap": ("job_defaults.swap_gb", ""),
    "vm_flavor": ("vm_defaults.flavor", ""),
    "vm_image": ("vm_defaults.image", ""),
    "vm_keep_alive": ("vm_defaults.keep_alive", ""),
    "vm_keyname": ("vm_defaults.keyname", ""),
    "vm_network": ("vm_defaults.network", ""),
    "vm_security_groups": ("vm_defaults.security_groups", ""),
    "public_visibility": ("public_visibility", ""),
}

CLOUD_COLUMNS: dict[str, tuple[str | None, str]] = {
    "group_name": ("(its group)", ""),
    "cloud_name": ("name", ""),
    "enabled": ("enabled", ""),
    "priority": ("priority", ""),
    "authurl": ("auth_url", ""),  # also the Connection's host (OpenStack) or endpoint_url (EC2)
    "project": ("project", ""),
    "username": ("connection", "the Connection's login"),
    "password": ("connection", "the Connection's password"),
    "userid": (None, "Keystone's user id; we read it from the token"),
    "obsolete_keyname": (None, "unused by csv2"),
    "cacertificate": ("ca_bundle", ""),
    "region": ("region", ""),
    "user_domain_name": ("user_domain_name", ""),
    "user_domain_id": (None, "we scope by domain name (user_domain_name)"),
    "project_domain_name": ("project_domain_name", ""),
    "project_domain_id": (None, "we scope by domain name (project_domain_name)"),
    "cloud_type": ("type", ""),
    "ec2_owner_id": (None, "filled by csv2's credential check (runtime state)"),
    "auth_type": ("connection", "password or application credential in the Connection"),
    "app_credentials": ("connection", "the Connection's extra application_credential_id"),
    "app_credentials_secret": ("connection", "the Connection's extra application_credential_secret"),
    "app_credentials_expiry": (
        None,
        "read from Keystone at every poll (a typed credential_expiry overrides)",
    ),
    "communication_up": (None, "runtime state: our poll status"),
    "communication_rt": (None, "runtime state (csv2's image-list round trip)"),
    "server_meta_ctl": (None, "unused by csv2"),
    "instances_ctl": (None, "unused by csv2"),
    "personality_ctl": (None, "unused by csv2"),
    "image_meta_ctl": (None, "unused by csv2"),
    "personality_size_ctl": (None, "unused by csv2"),
    "server_groups_ctl": (None, "unused by csv2"),
    "security_group_rules_ctl": (None, "unused by csv2"),
    "keypairs_ctl": (None, "unused by csv2"),
    "security_groups_ctl": (None, "unused by csv2"),
    "server_group_members_ctl": (None, "unused by csv2"),
    "floating_ips_ctl": (None, "unused by csv2"),
    "cores_ctl": ("limits.cores_ctl", ""),
    "cores_softmax": ("limits.cores_softmax", ""),
    "ram_ctl": ("limits.ram_ctl", ""),
    "spot_price": ("spot_price", ""),
    "vm_boot_volume": ("vm.boot_volume", ""),
    "vm_flavor": ("vm.flavor", ""),
    "vm_image": ("vm.image", ""),
    "vm_keep_alive": ("vm.keep_alive", ""),
    "vm_keyname": ("vm.keyname", ""),
    "vm_network": ("vm.network", ""),
    "vm_security_groups": ("vm.security_groups", ""),
    "error_count": (None, "runtime state: our poll status counts failures"),
    "error_time": (None, "runtime state: our poll status counts failures"),
    "machine_subprocess_pid": (None, "legacy csv2 bookkeeping"),
    "freeze": ("paused", "2 (an operator's pause) becomes paused; 1 (csv2's own freeze) clears"),
}

# (category, key) -> our setting, or None with why it is dropped.
CONFIGURATION: dict[tuple[str, str], tuple[str | None, str]] = {
    ("csmain", "max_start_vm_cloud"): ("max_boot_per_cycle", ""),
    ("csmain", "new_VMs_throttle"): ("new_vms_throttle", ""),
    ("csmain", "idle_VMs_throttle"): ("idle_vms_throttle", ""),
    ("csmain", "condorworker_optional_gsi_msgs"): ("condorworker_optional_gsi_messages", ""),
    ("SQL", "vm_come_alive"): ("vm_come_alive", ""),
    ("SQL", "vm_job_alive"): ("vm_job_alive", ""),
    ("SQL", "vm_error_delay"): ("vm_error_delay", ""),
    ("SQL", "csv2_host_id"): ("csv2_host_ids", "its VMs are adopted"),
    ("condor_poller.py", "retire_interval"): ("retire_interval", ""),
    ("GSI", "cert_days_left_good"): ("condorworker_cert_days_left_good", ""),
}
DROPPED_BY_PATTERN: tuple[tuple[str, str], ...] = (
    (
        "sleep_interval",
        "our intervals are CS_CONDOR_POLL_SECONDS, CS_CLOUD_POLL_SECONDS, CS_SCHEDULE_SECONDS",
    ),
    ("log_", "Airflow keeps the task logs"),
    ("_off", "pause the cs_schedule DAG (or a cloud) instead"),
    ("batch_commit_size", "our writes are whole-poll transactions"),
    ("cacerts", "a cloud's CA bundle is its ca_bundle (or its Connection's cacert)"),
    ("no_limit_default", "we write -1 for unlimited"),
    ("UTC_delta_hours", "we work in UTC"),
    ("delete_cycle_interval", "our pool poll writes every poll"),
    ("cert_days_left_bad", "we do not gate clouds on the condor host's GSI certificate"),
    ("region", "EC2 regions come from the cloud's region setting"),
    ("", "no counterpart here"),  # last: anything else
)


def configuration_target(category: str, key: str) -> tuple[str | None, str]:
    if (category, key) in CONFIGURATION:
        return CONFIGURATION[(category, key)]
    if category.startswith(("ec2_image_filter", "ec2_instance_type_filter")):
        return None, "name EC2 images by AMI id or name instead of filters"
    return None, next(why for pattern, why in DROPPED_BY_PATTERN if pattern in key)
