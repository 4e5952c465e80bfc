"""The simulated cloud: the same protocol, persisted in ``sim_instances`` (tasks run in separate
processes), advancing with the wall clock, honest about what a real cloud would do.

- A VM is ``building`` for ``boot_delay_s``, then ``active`` (or ``error`` when the error-state failure
  was drawn); the simulated pool lets an active VM's startd join after ``register_delay_s`` unless
  ``never_register`` was drawn, advertising ``startd_attrs``: the ``key = "value"`` condor assignments
  its rendered user-data writes. A template that forgets ``cs_vm_id`` yields a VM that never joins.
- Quotas (instances, cores, RAM) refuse creates with ``QuotaError``; ``capacity_error_rate`` refuses
  single VMs with ``CapacityError``; ``down`` makes every call fail as an unreachable endpoint would.
- Random draws are seeded by (cloud, vm_id), so a retried create draws the same fate.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update

from include.config.schema import Simulation
from include.providers.base import (
    AuthError,
    CapacityError,
    CloudVm,
    CreateResult,
    Flavor,
    Image,
    Keypair,
    Limits,
    Network,
    ProviderError,
    QuotaError,
    SecurityGroup,
    TransientError,
    Unsupported,
    VmSpec,
    VmStatus,
)
from include.providers.kinds import kind_of
from include.providers.ratelimit import retry_transient
from include.store.db import session_scope
from include.store.models import SimInstance
from include.store.models.base import utcnow
from include.userdata.builder import decode_user_data

ASSIGNMENT = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*"([^"\n]*)"\s*$', re.M)
STATUS = {"building": VmStatus.BUILDING, "active": VmStatus.ACTIVE, "error": VmStatus.ERROR}
SPAWN_FAULT = "Build of instance aborted: Instance failed to spawn (simulated)"


def startd_attrs(user_data: bytes | None) -> dict[str, str]:
    """The quoted ``key = "value"`` assignments of every part, as a VM's condor config would read them."""
    if not user_data:
        return {}
    return {k: v for _, text in decode_user_data(user_data) for k, v in ASSIGNMENT.findall(text)}


class SimulatedCloud:
    user_data_max_bytes = 49_149  # as OpenStack

    def __init__(
        self,
        name: str,
        group: str,
        engine,
        simulation: dict | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):

        self.name, self.group, self.engine, self.clock = name, group, engine, clock
        self.sim = Simulation.model_validate(simulation or {}, strict=False)
        self.throttle_next = 0  # tests and demos: the next N calls are throttled (and retried)
        self.reject_auth = False  # tests and demos: credentials rejected

    def _gate(self) -> None:
        if self.reject_auth:
            raise AuthError(self.name, "authentication failed: HTTP 401 (simulated expired credential)")
        if self.sim.failures.down:
            raise TransientError(self.name, "cannot reach the cloud: connection refused (simulated outage)")
        if self.throttle_next > 0:
            self.throttle_next -= 1
            raise TransientError(self.name, "HTTP 429 too many requests (simulated)")

    def _check_up(self) -> None:
        retry_transient(self._gate, base_s=0.05, cap_s=0.2)

    def _draw(self, vm_id: str, kind: str, rate: float) -> bool:
        return rate > 0 and random.Random(f"{self.name}/{vm_id}/{kind}").random() < rate

    def _live(self, session) -> list[SimInstance]:
        now = self.clock()
        mine = (SimInstance.group_name == self.group) & (SimInstance.cloud_name == self.name)
        for status, has_fault in (("active", False), ("error", True)):
            session.execute(
                update(SimInstance)
                .where(
                    mine,
                    SimInstance.status == "building",
                    SimInstance.active_at <= now,
                    SimInstance.fault.is_not(None) if has_fault else SimInstance.fault.is_(None),
                )
                .values(status=status)
            )
        return list(session.scalars(select(SimInstance).where(mine, SimInstance.status != "deleted")))

    def list_vms(self) -> list[CloudVm]:
        self._check_up()
        with session_scope(self.engine) as s:
            return [
                CloudVm(
                    cloud_vm_id=i.instance_id,
                    name=i.name,
                    status=STATUS.get(i.status, VmStatus.UNKNOWN),
                    cloud_status=i.status,
                    flavor=i.flavor,
                    image=i.image,
                    cores=i.cores,
                    ram_mb=i.ram_mb,
                    created_at=i.created_at,
                    tags=dict(i.tags or {}),
                    error=i.fault if i.status == "error" else None,
                    ips=(
                        f"10.99.{int(i.instance_id[:4], 16) % 250}.{int(i.instance_id[4:8], 16) % 250 + 2}",
                    ),
                )
                for i in self._live(s)
            ]

    def _flavor(self, name: str):
        for f in self.sim.flavors:
            if f.name == name:
                return f
        raise ProviderError(self.name, f"flavor {name!r} not found")

    def _quota_problem(self, live: list[SimInstance], cores: int, ram: int) -> str | None:
        for res, limit, used, want in (
            ("instances", self.sim.quota_instances, len(live), 1),
            ("cores", self.sim.quota_cores, sum(i.cores for i in live), cores),
            ("ram", self.sim.quota_ram_mb, sum(i.ram_mb for i in live), ram),
        ):
            if limit >= 0 and used + want > limit:
                return f"Quota exceeded for {res}: Requested {want}, but already used {used} of {limit} {res}"
        return None

    def create_vms(self, spec: VmSpec, count: int) -> list[CreateResult]:
        self._check_up()
        flavor = self._flavor(spec.flavor)
        if self.sim.images and spec.image not in self.sim.images:
            raise ProviderError(self.name, f"image {spec.image!r} not found")
        wanted, now, out = spec.vm_ids(count), self.clock(), []
        with session_scope(self.engine) as s:
            live = self._live(s)
            existing = {i.name: i.instance_id for i in live}
            for vm_id in wanted:
                if vm_id in existing:
                    out.append(CreateResult(vm_id, existing[vm_id], existed=True))
                    continue
                problem = self._quota_problem(live, flavor.cores, flavor.ram_mb)
                if problem:
                    out.append(CreateResult(vm_id, error=QuotaError(self.name, problem)))
                    continue
                if self._draw(vm_id, "capacity", self.sim.failures.capacity_error_rate):
                    out.append(
                        CreateResult(
                            vm_id, error=CapacityError(self.name, "InsufficientInstanceCapacity (simulated)")
                        )
                    )
                    continue
                inst = self._instance(spec, vm_id, flavor, now)
                s.add(inst)
                live.append(inst)
                out.append(CreateResult(vm_id, inst.instance_id))
        return out

    def _instance(self, spec: VmSpec, vm_id: str, flavor, now: datetime) -> SimInstance:
        failures = self.sim.failures
        return SimInstance(
            instance_id=str(uuid.uuid4()),
            group_name=self.group,
            cloud_name=self.name,
            name=vm_id,
            request_id=spec.request_id,
            flavor=flavor.name,
            image=spec.image,
            cores=flavor.cores,
            ram_mb=flavor.ram_mb,
            tags=spec.tags_for(vm_id),
            status="building",
            created_at=now,
            startd_attrs=startd_attrs(spec.user_data(vm_id) if spec.user_data else None),
            active_at=now + timedelta(seconds=self.sim.boot_delay_s),
            never_register=self._draw(vm_id, "never_register", failures.never_register_rate),
            fault=SPAWN_FAULT if self._draw(vm_id, "error_state", failures.error_state_rate) else None,
        )

    def delete_vm(self, vm_id: str, cloud_vm_id: str | None = None) -> None:
        self._check_up()
        with session_scope(self.engine) as s:
            key = SimInstance.instance_id == cloud_vm_id if cloud_vm_id else SimInstance.name == vm_id
            s.execute(
                update(SimInstance)
                .where(
                    key,
                    SimInstance.group_name == self.group,
                    SimInstance.cloud_name == self.name,
                    SimInstance.status != "deleted",
                )
                .values(status="deleted", deleted_at=self.clock())
            )

    def flavors(self) -> list[Flavor]:
        self._check_up()
        return [
            Flavor(f.name, f.name, f.cores, f.ram_mb, f.disk_gb, 0.0, f.swap_gb) for f in self.sim.flavors
        ]

    def image_store(self):
        raise Unsupported(self.name, kind_of("simulated").images_unsupported or "")

    def keypair_store(self):
        raise Unsupported(self.name, kind_of("simulated").keypairs_unsupported or "")

    def images(self, also=()) -> list[Image]:
        self._check_up()
        return [Image(image_id=name, name=name, visibility="public") for name in self.sim.images]

    def keypairs(self) -> list[Keypair]:
        self._check_up()
        return []

    def networks(self) -> list[Network]:
        self._check_up()
        return [Network("sim-net", "private")]

    def security_groups(self) -> list[SecurityGroup]:
        self._check_up()
        return [SecurityGroup("sim-sg", "default")]

    def limits(self) -> Limits:
        self._check_up()
        with session_scope(self.engine) as s:
            live = self._live(s)
        return Limits(
            cores_max=self.sim.quota_cores,
            cores_used=sum(i.cores for i in live),
            ram_max_mb=self.sim.quota_ram_mb,
            ram_used_mb=sum(i.ram_mb for i in live),
            instances_max=self.sim.quota_instances,
            instances_used=len(live),
        )
