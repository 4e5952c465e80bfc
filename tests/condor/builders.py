"""Small builders for pool tests: configured groups and clouds, and the instances a simulated cloud
would have written (``sim_instances``), straight into the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from include.store.db import session_scope
from include.store.models import Cloud, Group, SimInstance

T0 = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)  # on the 20 s negotiation grid
FLAVORS = [{"name": "c8", "cores": 8, "ram_mb": 32000, "disk_gb": 40.0}]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def group(
    engine,
    name: str = "atlas",
    *,
    kind: str = "simulated",
    collector: str | None = None,
    schedds: list[str] | None = None,
    submitters: list[str] | None = None,
    cloud: str = "arbutus",
    register_delay_s: int = 15,
) -> None:
    with session_scope(engine) as s:
        s.add(
            Group(
                name=name,
                pool_kind=kind,
                collector=collector,
                schedds=schedds or [],
                other_submitters=submitters if submitters is not None else ["ALL"],
                job_cores=8,
                job_ram_mb=16000,
                job_disk_gb=20.0,
            )
        )
        s.flush()
        s.add(
            Cloud(
                group_name=name,
                name=cloud,
                cloud_type="simulated",
                simulation={"boot_delay_s": 60, "register_delay_s": register_delay_s, "flavors": FLAVORS},
            )
        )


def sim_instance(
    engine,
    name: str,
    *,
    group: str = "atlas",
    cloud: str = "arbutus",
    active_at: datetime = T0,
    cores: int = 8,
    ram_mb: int = 32000,
    alias: str | None = None,
    never_register: bool = False,
    fault: str | None = None,
) -> str:
    """An instance as the simulated cloud creates it: building until ``active_at``, its user-data's
    startd attributes recorded."""
    attrs = {
        "cs_vm_id": name,
        "cs_deployment": "cs",
        "group_name": group,
        "cloud_name": cloud,
        "flavor": "c8",
    }
    if alias:
        attrs["target_alias"] = alias
    with session_scope(engine) as s:
        s.add(
            SimInstance(
                instance_id=f"id-{name}",
                group_name=group,
                cloud_name=cloud,
                name=name,
                flavor="c8",
                image="cernvm",
                cores=cores,
                ram_mb=ram_mb,
                tags={"cs_vm_id": name},
                startd_attrs=attrs,
                status="building",
                created_at=active_at - timedelta(seconds=60),
                active_at=active_at,
                never_register=never_register,
                fault=fault,
            )
        )
    return name


def delete_vm(engine, name: str, when: datetime) -> None:
    with session_scope(engine) as s:
        inst = s.get(SimInstance, f"id-{name}")
        inst.status, inst.deleted_at = "deleted", when
