"""The planner's input: configuration and inventory as small frozen dataclasses, and the three large
tables (jobs, VMs, startd slots) as pandas DataFrames whose columns ``tables.py`` defines.

The control loop fills a ``Snapshot`` from the store; tests build one with ``tests/scheduler/builders``.
A cloud's ``VmSettings`` field left None inherits the group's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class JobDefaults:
    """Shape of a job that states nothing (csv2 ``job_cpus``... defaults)."""

    cores: int = 1
    ram_mb: int = 1000
    disk_gb: float = 5.0
    swap_gb: float = 0.0


@dataclass(frozen=True)
class VmSettings:
    image: str | None = None
    flavor: str | None = None
    keyname: str | None = None
    network: str | None = None
    security_groups: tuple[str, ...] | None = None
    keep_alive: int | None = None  # seconds an idle VM is kept


@dataclass(frozen=True)
class GroupConfig:
    name: str
    job_defaults: JobDefaults = JobDefaults()
    vm: VmSettings = VmSettings(keep_alive=300)
    delete_on_job_completion: bool = False
    other_submitters: frozenset[str] = frozenset()  # {"ALL"} admits every owner
    members: frozenset[str] = frozenset()  # owners who are members of the group (user_groups)
    pool_stale: bool = False  # any part of the group's pool (a schedd, the collector) failed to poll

    def admits(self, owner: str) -> bool:
        return "ALL" in self.other_submitters or owner in self.members or owner in self.other_submitters


@dataclass(frozen=True)
class Flavor:
    name: str
    cores: int
    ram_mb: int
    disk_gb: float = 0.0
    ephemeral_gb: float = 0.0
    swap_gb: float = 0.0
    price: float | None = None  # per hour, as the cloud reports it: an EC2 spot cloud's current spot price

    @property
    def total_disk_gb(self) -> float:
        return self.disk_gb + self.ephemeral_gb


@dataclass(frozen=True)
class Limits:
    """The operator's caps on this cloud row; -1 = unset."""

    cores_ctl: int = -1
    cores_softmax: int = -1
    ram_ctl: int = -1  # MB
    max_vms: int = -1


@dataclass(frozen=True)
class Quota:
    """The project's quota and usage as the cloud reports it (cloud_limits); -1 = unlimited.

    ``foreign_*`` is usage in the same project that is not this cloud row's VMs (other groups, outsiders).
    """

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
    foreign_vms: int = 0
    foreign_cores: int = 0
    foreign_ram_mb: int = 0


@dataclass(frozen=True)
class BootVolume:
    gb: int = 0
    gb_per_core: int = 0
    volume_type: str | None = None

    def size_gb(self, cores: int) -> int:
        return self.gb + self.gb_per_core * cores


@dataclass(frozen=True)
class CloudConfig:
    group: str
    name: str
    cloud_type: str = "openstack"
    enabled: bool = True  # False = drained: no boots, every VM retired
    paused: bool = False  # no boots, VMs kept
    priority: int = 0  # lower boots first
    endpoint: str | None = None  # auth_url|region|project: rows sharing it share quota and throttle
    aliases: frozenset[str] = frozenset()
    vm: VmSettings = VmSettings()
    boot_volume: BootVolume | None = None
    spot_price: float = -1.0  # > 0: spot instances at this bid
    flavor_prices: tuple[tuple[str, float], ...] = ()  # (flavor, price per hour) the site configured
    limits: Limits = Limits()
    max_boot_per_cycle: int | None = None  # None = the policy's
    delete_on_job_completion: bool | None = None  # None = the group's
    flavor_exclusions: frozenset[str] = frozenset()
    flavors: tuple[Flavor, ...] = ()
    images: frozenset[str] = frozenset()  # names and ids of the images the cloud has
    ambiguous_images: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, its ids) of names held twice
    quota: Quota = Quota()
    stale: bool = False  # the last cloud poll failed or is too old: the cloud is frozen
    last_poll_at: datetime | None = None  # last successful poll
    credential_expiry: datetime | None = None

    @cached_property
    def key(self) -> tuple[str, str]:
        return (self.group, self.name)

    @cached_property
    def endpoint_key(self) -> str:
        return self.endpoint or f"{self.group}/{self.name}"


@dataclass(frozen=True)
class Backoff:
    """Boot failures of (group, cloud, flavor); flavor "" = the whole cloud."""

    group: str
    cloud: str
    flavor: str = ""
    failures: int = 0
    until: datetime | None = None
    disabled: bool = False


@dataclass(frozen=True)
class Snapshot:
    """Everything one planning run sees. Capacity (``vms``, ``slots``) is read before demand (``jobs``)."""

    groups: tuple[GroupConfig, ...]
    clouds: tuple[CloudConfig, ...]
    jobs: pd.DataFrame  # tables.JOB_COLUMNS
    vms: pd.DataFrame  # tables.VM_COLUMNS: our VMs only (foreign VMs are counted in Quota.foreign_*)
    slots: pd.DataFrame  # tables.SLOT_COLUMNS: startd slot ads of our VMs
    backoffs: tuple[Backoff, ...] = field(default_factory=tuple)
    # jobs set aside by earlier runs: (group, job_id) -> scheduler.unmatched.Unmatched
    unmatched: Mapping[tuple[str, str], Any] = field(default_factory=dict)
