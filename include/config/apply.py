"""Apply a whole configuration in one transaction, with an audit entry per changed object.

The document is declarative: objects it does not mention are removed, except that a group or cloud that
still has VMs is never removed (disable it first and let its VMs retire). Changing where a cloud points
(type, endpoint, region, project, domains, credentials) flushes its polled inventory, so stale flavours
or images of the old project are never used (csv2 #344).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from include.config.authority import Authority, refused_changes
from include.config.rows import ORDER, Rows, columns, from_session, read_rows, to_rows
from include.config.schema import Configuration
from include.config.validate import ConfigError, Problem
from include.store.models import (
    AuditEntry,
    Cloud,
    CloudFlavor,
    CloudImage,
    CloudKeypair,
    CloudLimits,
    CloudNetwork,
    CloudSecurityGroup,
    Group,
    PollStatus,
    Vm,
)

IDENTITY_FIELDS = (
    "cloud_type",
    "auth_url",
    "region",
    "project",
    "user_domain_name",
    "project_domain_name",
    "connection_id",
)
INVENTORY = (CloudFlavor, CloudImage, CloudKeypair, CloudNetwork, CloudSecurityGroup, CloudLimits)
QUIET_FIELDS = {"text", "public_key"}  # large values: the audit records that they changed, not the text


@dataclass(frozen=True)
class Change:
    action: str  # create | update | delete
    table: str
    key: tuple
    fields: dict[str, Any]

    def __str__(self) -> str:
        what = f" ({', '.join(sorted(self.fields))})" if self.action == "update" else ""
        return f"{self.action} {self.table} {'/'.join(map(str, self.key))}{what}"


def diff(current: Rows, desired: Rows) -> list[Change]:
    changes: list[Change] = []
    for model in reversed(ORDER):
        for key in sorted(set(current[model]) - set(desired[model]), key=str):
            changes.append(Change("delete", model.__tablename__, key, {}))
    for model in ORDER:
        for key in sorted(desired[model], key=str):
            new = desired[model][key]
            old = current[model].get(key)
            if old is None:
                changes.append(Change("create", model.__tablename__, key, _audit_fields(new)))
                continue
            changed = {c: new.get(c) for c in columns(model) if old.get(c) != new.get(c)}
            if changed:
                fields = {c: [old.get(c), v] for c, v in changed.items()}
                changes.append(Change("update", model.__tablename__, key, _audit_fields(fields)))
    return changes


def _audit_fields(values: dict[str, Any]) -> dict[str, Any]:
    return {k: ("<changed>" if k in QUIET_FIELDS else _jsonable(v)) for k, v in values.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def apply_config(
    session: Session, cfg: Configuration, actor: str, authority: Authority | None = None
) -> list[Change]:
    """Make the tables equal ``cfg``. Raises ConfigError (and changes nothing) if that is not allowed,
    including a change ``authority`` may not make (default: a site operator, who may make any).

    The caller owns the transaction: nothing is visible to others until it commits.
    """
    if authority is not None and not authority.site_operator:
        refused = refused_changes(from_session(session), cfg, authority)
        if refused:
            raise ConfigError(refused)
    current = read_rows(session)
    desired = to_rows(cfg)
    changes = diff(current, desired)
    _refuse_removing_busy(session, changes)
    models = {m.__tablename__: m for m in ORDER}
    for ch in changes:
        model = models[ch.table]
        if ch.action == "delete":
            obj = session.get(model, ch.key)
            if obj is not None:
                session.delete(obj)
                session.flush()
    for ch in changes:
        model = models[ch.table]
        values = desired[model].get(ch.key)
        if ch.action == "create":
            session.add(model(**values))
            session.flush()
        elif ch.action == "update":
            obj = session.get(model, ch.key)
            for col, val in values.items():
                setattr(obj, col, val)
            if model is Cloud and any(f in ch.fields for f in IDENTITY_FIELDS):
                _flush_inventory(session, *ch.key)
            session.flush()
    for ch in changes:
        session.add(
            AuditEntry(
                actor=actor,
                action=f"config.{ch.action}",
                object_type=ch.table,
                object_key="/".join(map(str, ch.key)),
                detail=ch.fields,
            )
        )
    session.flush()
    return changes


def _refuse_removing_busy(session: Session, changes: list[Change]) -> None:
    problems = []
    for ch in changes:
        if ch.action != "delete" or ch.table not in (Group.__tablename__, Cloud.__tablename__):
            continue
        query = select(func.count()).select_from(Vm).where(Vm.group_name == ch.key[0])
        if ch.table == Cloud.__tablename__:
            query = query.where(Vm.cloud_name == ch.key[1])
            obj = f"group '{ch.key[0]}' / cloud '{ch.key[1]}'"
        else:
            obj = f"group '{ch.key[0]}'"
        count = session.scalar(query)
        if count:
            problems.append(
                Problem(obj, "(removal)", f"still has {count} VMs: disable it and let them retire first")
            )
    if problems:
        raise ConfigError(problems)


def _flush_inventory(session: Session, group: str, cloud: str) -> None:
    for model in INVENTORY:
        session.execute(delete(model).where(model.group_name == group, model.cloud_name == cloud))
    session.execute(delete(PollStatus).where(PollStatus.group_name == group, PollStatus.cloud_name == cloud))


def export_config(session: Session) -> Configuration:
    return from_session(session)
