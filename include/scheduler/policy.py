"""The global tunables the planner obeys, built from the settings dict (``include.config.settings``
defaults overlaid with the ``settings`` rows), so an operator's settings row drives the next plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Policy:
    max_boot_per_cycle: int = 5  # VMs per boot action per cloud per cycle
    new_vms_throttle: int = 5  # starting + unregistered VMs per cloud endpoint
    idle_vms_throttle: int = 10  # no boots while idle VMs >= max(this, running VMs / 10)
    vm_error_delay: int = 300
    vm_come_alive: int = 7200
    vm_job_alive: int = 1800
    keep_alive_floor: int = 120
    retire_interval: int = 1024
    retire_max_sends: int = 10
    cloud_poll_interval: int = 60  # polling safety: unlisted VMs younger than two polls are kept
    credential_expiry_days: int = 8
    deployment_id: str = "cs"
    job_user_data_places: tuple[str, ...] = ()  # where jobs' VMUserData parts may come from

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Policy:
        """Pick the keys the planner uses; unknown keys (other packages' settings) are ignored."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in settings.items() if k in names}
        if "job_user_data_places" in values:
            values["job_user_data_places"] = tuple(values["job_user_data_places"])
        return cls(**values)
