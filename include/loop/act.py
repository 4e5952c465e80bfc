"""Carry out recorded intents against one cloud: open boot requests, then deletes.

Level-triggered and idempotent. Every boot request still ``planned`` or ``sent`` is (re)sent with its own
request id, so a task killed after the cloud accepted a create finds those VMs on the retry instead of
making more; a delete of a VM that is already gone succeeds. Cloud errors are outcomes recorded in the
store (back-off, VM rows gone), never exceptions that would hide the other actions of this cloud.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from include.config.settings import Settings
from include.loop.record import SOFT_BACKOFF, count_boot_failure
from include.providers.base import (
    TAG_ALIAS,
    TAG_KEEP_ALIVE,
    AuthError,
    CapacityError,
    CloudAdapter,
    ProviderError,
    QuotaError,
    TransientError,
    VmSpec,
)
from include.providers.redaction import Redactor
from include.scheduler.states import VmStatus
from include.store.models import Backoff, BootRequest, Cloud, Group, Vm
from include.userdata.builder import UserDataBuilder, collate_metadata, site_addresses, template_variables
from include.userdata.job_parts import JobPartError, job_parts

REQUEST_GIVE_UP = timedelta(minutes=15)  # a request the cloud never took is abandoned after this


@dataclass
class CloudOutcome:
    group: str
    cloud: str
    created: list[str] = field(default_factory=list)
    existed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # whole-cloud problems (auth, down, template)

    def as_dict(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("group", "cloud", "created", "existed", "failed", "deleted", "errors")
        }


def act_on_cloud(
    engine,
    group: str,
    cloud: str,
    adapter: CloudAdapter,
    now: datetime,
    settings: Settings,
    deletes: list[str],
    secrets: Mapping[str, str] | None = None,
    still_ours: Callable[[], bool] = lambda: True,
) -> CloudOutcome:
    """Send this cloud's open boot requests, then delete ``deletes`` (vm ids) and every VM an operator
    asked to kill. Each step commits on its own, so what the cloud did is recorded as it happens.
    ``secrets``: template variables from the group's pool Connection (``airflow_glue.worker_secrets``).
    ``still_ours`` is asked before each call to the cloud: once the run lost its lease, nothing more is
    sent (the run that holds it now does the work)."""
    out = CloudOutcome(group, cloud)

    def fenced() -> bool:
        if still_ours():
            return False
        out.errors.append("lease lost: stopped before calling the cloud; a newer run acts instead")
        return True

    redactor = Redactor((secrets or {}).values())  # a template error may quote the pool's token
    with Session(engine, expire_on_commit=False) as session:
        requests = session.scalars(
            select(BootRequest)
            .where(
                BootRequest.group_name == group,
                BootRequest.cloud_name == cloud,
                BootRequest.state.in_(("planned", "sent")),
            )
            .order_by(BootRequest.created_at, BootRequest.request_id)
        ).all()
        for request in requests:
            if fenced():
                return out
            try:
                _boot(session, request, adapter, now, settings, out, secrets)
            except ProviderError as err:
                session.rollback()
                err = redactor.error(err)
                _request_failed_whole(session, request, err, now, settings, out)
                if isinstance(err, AuthError | TransientError):
                    break  # the cloud is unusable now: leave the other requests for the next cycle
            session.commit()
        kills = session.scalars(
            select(Vm.vm_id).where(
                Vm.group_name == group,
                Vm.cloud_name == cloud,
                Vm.kill_requested_at.is_not(None),
                Vm.status != VmStatus.GONE.value,
                Vm.manual.is_(False),
            )
        ).all()
        for vm_id in sorted(set(deletes) | set(kills)):
            if fenced():
                return out
            _delete(session, vm_id, adapter, now, out)
            session.commit()
    return out


def _boot(
    session: Session,
    request: BootRequest,
    adapter: CloudAdapter,
    now: datetime,
    settings: Settings,
    out: CloudOutcome,
    secrets: Mapping[str, str] | None = None,
) -> None:
    spec = build_spec(
        session, request, settings, secrets, user_data_max_bytes=getattr(adapter, "user_data_max_bytes", None)
    )
    request.state = "sent"
    session.commit()  # the intent says "sent" before the cloud hears of it
    results = adapter.create_vms(spec, request.count)
    failures = []
    for result in results:
        vm = session.get(Vm, result.vm_id)
        if vm is None:
            continue
        if result.ok:
            vm.cloud_vm_id = result.cloud_vm_id
            (out.existed if result.existed else out.created).append(result.vm_id)
        elif getattr(result.error, "maybe_acted", False):
            # The cloud may have made it (the answer was lost): the row stays "requested", so it counts as
            # supply and nothing boots in its place; the next polls list it, or mark it gone.
            vm.error = f"outcome unknown, the next poll will tell: {result.error.message}"[:2000]
            out.failed[result.vm_id] = vm.error
        else:
            failures.append(result.error)
            _vm_not_made(vm, result.error, now)
            out.failed[result.vm_id] = result.error.message if result.error else "not created"
    for err in failures[:1]:  # one back-off step per request, not one per refused VM
        _back_off(session, request, now, settings, err)
    request.state = "done" if not failures else ("failed" if len(failures) == len(results) else "done")
    request.error = "; ".join(e.message for e in failures if e)[:2000] or None
    request.finished_at = now


def _back_off(session: Session, request: BootRequest, now: datetime, settings: Settings, err) -> None:
    """Count a refused request against its (cloud, flavour), and against the whole cloud where the
    refusal is the cloud's rather than the flavour's."""

    def count(flavor: str, reason: str, disable: bool = True) -> None:
        group, cloud = request.group_name, request.cloud_name
        count_boot_failure(session, group, cloud, flavor, now, settings, reason, disable=disable)

    if isinstance(err, CapacityError | QuotaError):
        count(request.flavor, f"{type(err).__name__}: {err.message}")
    if isinstance(err, CapacityError) and _short_on_other_flavours(session, request, now, settings):
        # Out of capacity for a second flavour: the region is short, not one type. Back the cloud off
        # (growing, never disabled: capacity comes back) so demand moves to the next cloud now rather
        # than after one failure per flavour: an EC2 region offers hundreds of fitting types.
        count("", f"{SOFT_BACKOFF}: {err.message}", disable=False)
    if isinstance(err, QuotaError):
        # A quota is the project's, not the flavour's: back the whole cloud off too, or the next
        # cycle would only walk on to the next flavour and be refused again.
        count("", f"QuotaError: {err.message}")


def _short_on_other_flavours(
    session: Session, request: BootRequest, now: datetime, settings: Settings
) -> bool:
    recent = now - timedelta(seconds=settings.backoff_max)
    query = select(Backoff.flavor).where(
        Backoff.group_name == request.group_name,
        Backoff.cloud_name == request.cloud_name,
        Backoff.flavor.not_in(("", request.flavor)),
        Backoff.last_failure_at >= recent,
        # Refused at create ("CapacityError: ...") or reported later by the cloud, as Nova's "No valid
        # host" ("capacity: ...", loop/sync.py).
        Backoff.last_error.startswith("CapacityError") | Backoff.last_error.startswith("capacity:"),
    )
    return session.execute(query.limit(1)).first() is not None


def build_spec(
    session: Session,
    request: BootRequest,
    settings: Settings,
    secrets: Mapping[str, str] | None = None,
    *,
    user_data_max_bytes: int | None = None,
) -> VmSpec:
    """The create spec of a request, as the planner decided it (owners, network, key, security groups,
    the jobs' VMUserData; a request recorded before those were kept takes the cloud's, else the
    group's settings), with rendered user-data. A template that does not render, or user-data over the
    cloud's limit, raises ``UserDataError`` before any VM is made; a VMUserData part that cannot be
    read raises ``JobPartError``."""
    group = session.get(Group, request.group_name)
    cloud = session.get(Cloud, (request.group_name, request.cloud_name))
    first_vm = session.scalars(select(Vm).where(Vm.request_id == request.request_id).limit(1)).first()
    variables = template_variables(
        group,
        cloud,
        deployment=settings.deployment_id,
        flavor=request.flavor,
        users=request.owners or (),
        alias=request.target_alias or "",
        network=_pick(request.network, cloud.vm_network, group.vm_network) or "",
        site=site_addresses(group.collector, settings),
        extra=secrets,
    )
    extra_parts = job_parts(cloud.name, request.user_data, settings.job_user_data_places)
    builder = UserDataBuilder(
        cloud.name,
        collate_metadata(session, group.name, cloud.name, extra_parts),
        variables,
        max_bytes=user_data_max_bytes,
    )
    builder.prepare([f"{request.request_id}-{i}" for i in range(1, request.count + 1)])
    volume = cloud.boot_volume or {}
    cores = first_vm.cores if first_vm else 0
    groups_sg = cloud.vm_security_groups if cloud.vm_security_groups is not None else group.vm_security_groups
    security_groups = request.security_groups if request.security_groups is not None else groups_sg
    spot = (
        request.spot_price
        if request.owners is not None
        else (cloud.spot_price if cloud.spot_price and cloud.spot_price > 0 else None)
    )
    return VmSpec(
        group=group.name,
        cloud=cloud.name,
        request_id=request.request_id,
        flavor=request.flavor,
        image=request.image,
        deployment=settings.deployment_id,
        keypair=_pick(request.keyname, cloud.vm_keyname, group.vm_keyname),
        network=_pick(request.network, cloud.vm_network, group.vm_network),
        security_groups=tuple(security_groups or ()),
        user_data=builder,
        boot_volume_gb=(volume.get("gb", 0) + volume.get("gb_per_core", 0) * cores) if volume else 0,
        boot_volume_type=volume.get("volume_type"),
        spot_price=spot,
        extra_tags=_remembered(request, first_vm),
    )


def _remembered(request: BootRequest, vm: Vm | None) -> dict[str, str]:
    """What the loop must get back if it ever loses its rows and adopts the VM from its tags."""
    tags = {}
    if request.target_alias:
        tags[TAG_ALIAS] = request.target_alias
    if vm is not None and vm.keep_alive:
        tags[TAG_KEEP_ALIVE] = str(vm.keep_alive)
    return tags


def _pick(*values: str | None) -> str | None:
    """The first value that is set (the request's, then the cloud's, then the group's)."""
    return next((v for v in values if v is not None), None)


def _vm_not_made(vm: Vm, err: ProviderError | None, now: datetime) -> None:
    vm.status, vm.status_changed_at = VmStatus.GONE.value, now
    vm.error = (err.message if err else "not created")[:2000]


def _request_failed_whole(
    session: Session,
    request: BootRequest,
    err: ProviderError,
    now: datetime,
    settings: Settings,
    out: CloudOutcome,
) -> None:
    """Nothing could be attempted. A transient failure (throttled, down) leaves the request open for the
    next cycle, until it is old. Anything else (credentials refused, a template that does not render, an
    unknown image) fails it at once and backs the whole cloud off, so a broken cloud is not asked again
    every cycle; its VMs are given up, so they stop counting as supply."""
    out.errors.append(f"{request.request_id}: {err.message}")
    request = session.get(BootRequest, request.request_id)
    request.error = err.message[:2000]
    if isinstance(err, TransientError) and now - request.created_at < REQUEST_GIVE_UP:
        request.state = "sent" if request.state == "sent" else "planned"
        return
    if not isinstance(err, TransientError | JobPartError):  # a job's unreadable part is not the cloud's fault
        count_boot_failure(
            session,
            request.group_name,
            request.cloud_name,
            "",
            now,
            settings,
            f"{type(err).__name__}: {err.message}",
        )
    request.state, request.finished_at = "failed", now
    for vm in session.scalars(
        select(Vm).where(Vm.request_id == request.request_id, Vm.cloud_vm_id.is_(None))
    ):
        if vm.status == VmStatus.REQUESTED.value:
            _vm_not_made(vm, err, now)


def _delete(session: Session, vm_id: str, adapter: CloudAdapter, now: datetime, out: CloudOutcome) -> None:
    vm = session.get(Vm, vm_id)
    if vm is None or vm.manual:
        return  # never a manual VM, whoever asks (the planner never plans one either)
    vm.delete_attempts = (vm.delete_attempts or 0) + 1
    vm.delete_requested_at = vm.delete_requested_at or now
    try:
        adapter.delete_vm(vm.vm_id, vm.cloud_vm_id)
    except ProviderError as err:
        vm.error = f"delete failed: {err.message}"[:2000]
        out.errors.append(f"delete {vm_id}: {err.message}")
        return
    vm.status, vm.status_changed_at = VmStatus.DELETING.value, now
    out.deleted.append(vm_id)
