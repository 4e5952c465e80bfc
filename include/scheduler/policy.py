"""The global tunables the planner obeys: a view of the site's settings (``include.config.settings``,
defaults overlaid with the ``settings`` rows and the environment's intervals), so an operator's
settings row drives the next plan. Pure: it reads the fields it names from whatever it is given."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Policy:
    max_boot_per_cycle: int = 20  # VMs per boot action per cloud per cycle (csv2: 5; see Settings)
    new_vms_throttle: int = 40  # starting + unregistered VMs per cloud endpoint (csv2: 5)
    idle_vms_throttle: int = 10  # no boots while idle VMs >= max(this, running VMs / 10)
    vm_error_delay: int = 300
    vm_come_alive: int = 7200
    vm_register_late: int = 600  # an unregistered VM stops counting as supply (supply.late_to_register)
    vm_job_alive: int = 1800
    keep_alive_floor: int = 120
    retire_interval: int = 1024
    retire_max_sends: int = 10
    cloud_poll_interval: int = 60  # polling safety: unlisted VMs younger than two polls are kept
    credential_expiry_days: int = 8
    deployment_id: str = "cs"
    job_user_data_places: tuple[str, ...] = ()  # where jobs' VMUserData parts may come from
    job_unmatched_recheck: int = 21600  # a job set aside (unmatched.py) asks for VMs again after this
    consolidate_below: int = 50  # percent busy at or under which a VM may be drained (consolidate.py)
    room_drain_after: int = 1800  # seconds a multi-core job waits at the limits before VMs drain for it
    room_drain_max: int = 4  # VMs of a group draining at once to gather cores for waiting jobs (room.py)

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        """The planner's view of the site's settings (``include.config.settings.Settings``): the fields
        of the same names."""
        values = {f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)}
        if "job_user_data_places" in values:
            values["job_user_data_places"] = tuple(values["job_user_data_places"])
        return cls(**values)
