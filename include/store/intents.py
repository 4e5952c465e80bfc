"""Operator intents: what an operator asks of a VM or a cloud, recorded in the store (with an audit
entry) for the next scheduling run to carry out. Used alike by the plugin's buttons, the CLI and the
manual operator DAGs; none of them calls a cloud or the pool directly.

VM actions (the original's ``--vm-option``): ``retire`` (graceful, through the pool), ``kill`` (delete
now, even with running jobs), ``manctl`` (manual control: the loop leaves the VM alone), ``sysctl``
(back to system control). Cloud actions: ``drain`` (no boots, retire every VM), ``pause`` (no boots,
VMs kept), ``resume`` (undo a pause only), ``enable`` (undo both; also clears a disabled back-off).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from include.store.models import AuditEntry, Backoff, Cloud, Vm

VM_ACTIONS = ("retire", "kill", "manctl", "sysctl")
CLOUD_ACTIONS = ("drain", "pause", "resume", "enable")


class IntentError(ValueError):
    """An operator request that names something that does not exist or an unknown action."""


def request_vm_action(
    session: Session, vm_ids: Iterable[str], action: str, actor: str, now: datetime, group: str | None = None
) -> list[str]:
    """Record ``action`` on each VM; returns the ids acted on. Unknown ids (or ids of another group, when
    ``group`` is given) are refused as a whole, so a typo changes nothing."""
    if action not in VM_ACTIONS:
        raise IntentError(f"unknown VM action '{action}' (one of {', '.join(VM_ACTIONS)})")
    ids = sorted(set(vm_ids))
    vms = {vm.vm_id: vm for vm in session.scalars(select(Vm).where(Vm.vm_id.in_(ids)))}
    missing = [i for i in ids if i not in vms or (group is not None and vms[i].group_name != group)]
    if missing:
        raise IntentError(f"no such VM{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    for vm in sorted(vms.values(), key=lambda v: v.vm_id):
        _apply_vm_action(vm, action, now)
        session.add(
            AuditEntry(
                at=now,
                actor=actor,
                action=f"vm.{action}",
                object_type="vm",
                object_key=vm.vm_id,
                detail={"group": vm.group_name, "cloud": vm.cloud_name},
            )
        )
    session.flush()
    return ids


def _apply_vm_action(vm: Vm, action: str, now: datetime) -> None:
    if action == "retire" and vm.retire_requested_at is None:
        vm.retire_requested_at, vm.retire_reason = now, "operator"
    elif action == "kill" and vm.kill_requested_at is None:
        vm.kill_requested_at = now
    elif action == "manctl":
        vm.manual = True
    elif action == "sysctl":
        vm.manual = False


def request_cloud_action(
    session: Session, group: str, cloud: str, action: str, actor: str, now: datetime
) -> None:
    if action not in CLOUD_ACTIONS:
        raise IntentError(f"unknown cloud action '{action}' (one of {', '.join(CLOUD_ACTIONS)})")
    row = session.get(Cloud, (group, cloud))
    if row is None:
        raise IntentError(f"no such cloud: {group}/{cloud}")
    before = {"enabled": row.enabled, "paused": row.paused}
    if action == "drain":
        row.enabled = False
    elif action == "pause":
        row.paused = True
    elif action == "resume":
        row.paused = False
    else:
        row.enabled, row.paused = True, False
        session.execute(
            update(Backoff)
            .where(Backoff.group_name == group, Backoff.cloud_name == cloud)
            .values(disabled=False, failures=0, until=None)
        )
    after = {"enabled": row.enabled, "paused": row.paused}
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            action=f"cloud.{action}",
            object_type="cloud",
            object_key=f"{group}/{cloud}",
            detail={"before": before, "after": after},
        )
    )
    session.flush()
