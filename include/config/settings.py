"""Global tunables with the original's defaults (csv2 section 7.1). Rows in ``settings`` override them.

Every setting is typed and bounded so that a bad value is refused at apply time, naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class SettingSpec:
    key: str
    default: Any
    kind: type
    minimum: float | None
    doc: str


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("deployment_id", "cs", str, None, "tag on every VM we boot; VMs of other ids are foreign"),
    SettingSpec("condor_poll_interval", 15, int, 5, "seconds between pool polls (CS_CONDOR_POLL_SECONDS)"),
    SettingSpec("cloud_poll_interval", 60, int, 10, "seconds between cloud polls (CS_CLOUD_POLL_SECONDS)"),
    SettingSpec("schedule_interval", 30, int, 5, "seconds between scheduling runs (CS_SCHEDULE_SECONDS)"),
    SettingSpec("stale_after", 180, int, 10, "seconds after which a source that has not polled is stale"),
    SettingSpec("max_boot_per_cycle", 5, int, 0, "VMs per boot request per cloud per cycle"),
    SettingSpec("new_vms_throttle", 5, int, 0, "max VMs starting + unregistered per cloud"),
    SettingSpec("idle_vms_throttle", 10, int, 0, "stop booting while idle VMs >= max(this, running/10)"),
    SettingSpec("vm_error_delay", 300, int, 0, "seconds in error before a VM is retired"),
    SettingSpec("vm_come_alive", 7200, int, 0, "seconds a VM may take to register its startd"),
    SettingSpec("vm_job_alive", 1800, int, 0, "seconds a registered VM may stay without ever running a job"),
    SettingSpec("keep_alive_floor", 120, int, 0, "lowest keep-alive honoured, seconds"),
    SettingSpec("retire_interval", 1024, int, 1, "seconds between re-sends of a retire"),
    SettingSpec("retire_max_sends", 10, int, 1, "retires sent before an alert; then the VM is deleted"),
    SettingSpec("boot_failure_threshold", 3, int, 1, "failures in a row that disable booting on a flavor"),
    SettingSpec("backoff_base", 60, int, 1, "first back-off after a boot failure, seconds (doubles)"),
    SettingSpec("backoff_max", 3600, int, 1, "longest back-off, seconds"),
    SettingSpec("credential_expiry_days", 8, int, 0, "disable a cloud whose credential expires sooner"),
    SettingSpec("default_rate_per_second", 2.0, float, 0.01, "cloud API requests per second per cloud"),
    SettingSpec("default_rate_burst", 20, int, 1, "cloud API request burst per cloud"),
    SettingSpec("timeseries_retention_days", 30, int, 1, "days of timeseries kept"),
    SettingSpec(
        "connection_rule",
        "cs_cloud_{group}_*",
        str,
        None,
        "Airflow Connections a group's editors may give its clouds: a glob, {group} = the group's name",
    ),
    SettingSpec(
        "condorworker_cert_days_left_good",
        7,
        int,
        0,
        "days a worker's GSI certificate must still be valid (cs_condorworker_cert_days_to_end_of_life)",
    ),
    SettingSpec(
        "condorworker_optional_gsi_messages",
        False,
        bool,
        None,
        "workers also report a good or missing certificate (cs_condorworker_optional_gsi_messages)",
    ),
    SettingSpec(
        "site_host",
        "",
        str,
        None,
        "this site's cloudscheduler host for templates (cs_host); empty: this machine",
    ),
    SettingSpec(
        "job_user_data_places",
        [],
        list,
        None,
        "where jobs' VMUserData parts may come from: https URL prefixes or directories of this host",
    ),
    SettingSpec(
        "group_connections",
        {},
        dict,
        None,
        "further Connections per group its editors may use: {group: [connection ids]}",
    ),
)

BY_KEY: Mapping[str, SettingSpec] = {s.key: s for s in SPECS}
DEFAULTS: Mapping[str, Any] = {s.key: s.default for s in SPECS}


def check_setting(key: str, value: Any) -> str | None:
    """The problem with ``key: value``, or None when it is acceptable."""
    spec = BY_KEY.get(key)
    if spec is None:
        return f"unknown setting (known: {', '.join(sorted(BY_KEY))})"
    if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, spec.kind) or (isinstance(value, bool) and spec.kind is not bool):
        return f"must be of type {spec.kind.__name__}, got {type(value).__name__}"
    if spec.minimum is not None and value < spec.minimum:
        return f"must be >= {spec.minimum:g}"
    if spec.kind in (int, float) and value > 2**31 - 1:
        return f"must be <= {2**31 - 1}"
    if spec.key == "deployment_id" and not (value.isalnum() and value.islower() and len(value) <= 8):
        return "must be 1-8 lowercase letters or digits"
    if spec.key == "connection_rule":
        return _check_rule(value)
    if spec.key == "group_connections":
        return _check_group_connections(value)
    if spec.key == "job_user_data_places":
        return _check_places(value)
    return None


def _check_places(value: list) -> str | None:
    for place in value:
        if not isinstance(place, str) or not (
            place.startswith(("https://", "http://")) or place.startswith("/")
        ):
            return "must be a list of URL prefixes (https://...) and absolute directories (/...)"
        if place.startswith("http") and place.count("/") < 3:
            return f"URL prefix {place!r} must name a host and a path, ending in '/'"
    return None


def _check_rule(rule: str) -> str | None:
    if rule == "":
        return None  # no rule: only group_connections lists what editors may use
    try:
        rule.format(group="atlas")
    except (KeyError, IndexError, ValueError):
        return "must be a glob where '{group}' (the only placeholder) stands for the group's name"
    if "{group}" not in rule:
        return "must contain '{group}', so each group gets its own Connections"
    return None


def _check_group_connections(value: dict) -> str | None:
    for group, names in value.items():
        if (
            not isinstance(group, str)
            or not isinstance(names, list)
            or not all(isinstance(n, str) and n for n in names)
        ):
            return "must map each group name to a list of Connection ids"
    return None


def load_settings(session: Session) -> dict[str, Any]:
    """Defaults overlaid with the ``settings`` rows."""
    from include.store.models import Setting

    values = dict(DEFAULTS)
    for row in session.scalars(select(Setting)):
        if row.key in values:
            values[row.key] = row.value
    return values
