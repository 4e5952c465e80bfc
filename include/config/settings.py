"""Global tunables with the original's defaults (csv2 section 7.1), as one frozen, typed
:class:`Settings`; rows in ``settings`` override them. Every setting is typed and bounded so that a bad
value is refused at apply time, naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import include.intervals as intervals
from include.intervals import ENV_OF
from include.store.models import Setting


def _setting(default: Any, doc: str, minimum: float | None = None) -> Any:
    """A field of :class:`Settings`: its default, what it means, and the least value it takes."""
    if isinstance(default, list | dict):
        return field(
            default_factory=lambda: type(default)(default), metadata={"doc": doc, "minimum": minimum}
        )
    return field(default=default, metadata={"doc": doc, "minimum": minimum})


@dataclass(frozen=True)
class Settings:
    """Every global tunable, typed, with its default: the one spec of settings. ``settings`` rows override
    the defaults (``load_settings``); the loop's intervals come from the environment (``intervals``),
    where the DAGs read them at parse time, and are not rows."""

    deployment_id: str = _setting("cs", "tag on every VM we boot; VMs of other ids are foreign")
    stale_after: int = _setting(180, "seconds after which a source that has not polled is stale", 10)
    max_boot_per_cycle: int = _setting(20, "VMs per boot request per cloud per cycle (csv2: 5)", 0)
    new_vms_throttle: int = _setting(40, "max VMs starting + unregistered per cloud endpoint (csv2: 5)", 0)
    idle_vms_throttle: int = _setting(10, "stop booting while idle VMs >= max(this, running/10)", 0)
    vm_error_delay: int = _setting(300, "seconds in error before a VM is retired", 0)
    vm_come_alive: int = _setting(7200, "seconds a VM may take to register its startd", 0)
    vm_register_late: int = _setting(
        600,
        "seconds after which an unregistered VM stops counting as coming capacity (or twice its cloud's usual time)",
        0,
    )
    vm_job_alive: int = _setting(1800, "seconds a registered VM may stay without ever running a job", 0)
    job_unmatched_recheck: int = _setting(
        21600,
        "seconds an idle job the pool refused beside a fitting idle VM of ours asks for no VM (then once more)",
        0,
    )
    consolidate_below: int = _setting(
        50,
        "percent of a running VM's cores busy at or below which it may be drained when its group has no "
        "idle job and spare cores elsewhere (0: never)",
        0,
    )
    room_drain_after: int = _setting(
        1800,
        "seconds a multi-core job waits, its group at its limits, before running VMs drain to gather its "
        "cores (0: never)",
        0,
    )
    room_drain_max: int = _setting(
        4, "VMs of a group draining at once to gather cores for waiting multi-core jobs", 0
    )
    keep_alive_floor: int = _setting(120, "lowest keep-alive honoured, seconds", 0)
    retire_interval: int = _setting(1024, "seconds between re-sends of a retire", 1)
    retire_max_sends: int = _setting(10, "retires sent before an alert; then the VM is deleted", 1)
    boot_failure_threshold: int = _setting(3, "failures in a row that disable booting on a flavor", 1)
    backoff_base: int = _setting(60, "first back-off after a boot failure, seconds (doubles)", 1)
    backoff_max: int = _setting(3600, "longest back-off, seconds", 1)
    credential_expiry_days: int = _setting(8, "disable a cloud whose credential expires sooner", 0)
    default_rate_per_second: float = _setting(2.0, "cloud API requests per second per cloud", 0.01)
    default_rate_burst: int = _setting(20, "cloud API request burst per cloud", 1)
    timeseries_retention_days: int = _setting(30, "days of timeseries kept", 1)
    usage_retention_days: int = _setting(200, "days a VM's usage record is kept after the VM is deleted", 1)
    connection_rule: str = _setting(
        "cs_cloud_{group}_*",
        "Airflow Connections a group's editors may give its clouds: a glob, {group} = the group's name",
    )
    condorworker_cert_days_left_good: int = _setting(
        28,
        "days a worker's GSI certificate must still be valid (cs_condorworker_cert_days_to_end_of_life)",
        0,
    )
    condorworker_optional_gsi_messages: bool = _setting(
        False, "workers also report a good or missing certificate (cs_condorworker_optional_gsi_messages)"
    )
    site_host: str = _setting(
        "", "this site's cloudscheduler host for templates (cs_host); empty: this machine"
    )
    job_user_data_places: list = _setting(
        [], "where jobs' VMUserData parts may come from: https URL prefixes or directories of this host"
    )
    csv2_host_ids: list = _setting(
        [], "csv2 instances (their csv2_host_id) whose VMs and startds are adopted, as after an import"
    )
    group_connections: dict = _setting(
        {}, "further Connections per group its editors may use: {group: [connection ids]}"
    )
    public_private_names: list = _setting(
        [], "cloud and alias names (globs) the public status page hides: their figures count only in totals"
    )
    # Not rows: the environment's (include.intervals), filled in by load_settings; the planner and
    # the loop read these two (the pool poll's interval is the DAG's business only).
    cloud_poll_interval: int = field(default=60, metadata={"interval": True})
    schedule_interval: int = field(default=30, metadata={"interval": True})


@dataclass(frozen=True)
class SettingSpec:
    key: str
    default: Any
    kind: type
    minimum: float | None
    doc: str


_KINDS = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}
SPECS: tuple[SettingSpec, ...] = tuple(
    SettingSpec(
        f.name, getattr(Settings(), f.name), _KINDS[str(f.type)], f.metadata["minimum"], f.metadata["doc"]
    )
    for f in fields(Settings)
    if not f.metadata.get("interval")
)
INTERVALS = frozenset(ENV_OF)  # keys a settings row may not set: the environment does
_INTERVAL_FIELDS = frozenset(f.name for f in fields(Settings) if f.metadata.get("interval"))
BY_KEY: Mapping[str, SettingSpec] = {s.key: s for s in SPECS}
DEFAULTS: Mapping[str, Any] = {s.key: s.default for s in SPECS}


def check_setting(key: str, value: Any) -> str | None:
    """The problem with ``key: value``, or None when it is acceptable."""
    spec = BY_KEY.get(key)
    if key in INTERVALS:
        return f"set by the environment ({ENV_OF[key]}), where the DAGs read it, not here"
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
    if spec.key == "consolidate_below" and value > 100:
        return "must be a percent of a VM's cores, 0-100 (0: never drain)"
    if spec.key == "deployment_id" and not (value.isalnum() and value.islower() and len(value) <= 8):
        return "must be 1-8 lowercase letters or digits"
    if spec.key == "connection_rule":
        return _check_rule(value)
    if spec.key == "group_connections":
        return _check_group_connections(value)
    if spec.key == "job_user_data_places":
        return _check_places(value)
    if spec.key == "public_private_names" and not all(isinstance(v, str) and v for v in value):
        return "must be a list of cloud or alias names (globs such as 'commercial-*')"
    if spec.key == "csv2_host_ids" and not all(isinstance(v, str) and v.isdigit() for v in value):
        return "must be a list of csv2 host ids (digits, as strings)"
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


def load_settings(session: Session) -> Settings:
    """The defaults overlaid with the ``settings`` rows (rows of unknown keys ignored), and the loop's
    intervals from the environment."""

    rows = {row.key: row.value for row in session.scalars(select(Setting)) if row.key in BY_KEY}
    from_env = {k: v for k, v in intervals.seconds().items() if k in _INTERVAL_FIELDS}
    return replace(Settings(), **rows, **from_env)
