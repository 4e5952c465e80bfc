"""One cloud's keypairs made to match the key matrix (the body of cs_keys' mapped task), and the record
of what was found and done in ``key_placements`` (states present, conflict, error, unsupported).

A name the cloud holds with another key is a conflict: recorded, alerted once when it appears and once
when it clears, never overwritten. Listing failures change nothing; a failing import or delete is that
key's error and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, delete, select

from include.alerting import Alert, deliver
from include.keys.plan import CONFLICT, ERROR, PRESENT, UNSUPPORTED, Placement, plan_keys
from include.providers.base import ProviderError, Unsupported
from include.store.db import session_scope
from include.store.models import CloudKeypair, Key, KeyPlacement, KeyTarget


def wanted_keys(session, group: str, cloud: str) -> dict[str, str]:
    return dict(
        session.execute(
            select(Key.name, Key.public_key)
            .join(KeyTarget, (KeyTarget.group_name == Key.group_name) & (KeyTarget.key_name == Key.name))
            .where(KeyTarget.group_name == group, KeyTarget.cloud_name == cloud)
        ).all()
    )


def sync_cloud(
    engine: Engine, group: str, cloud: str, store_for: Callable[[], object], now: datetime
) -> dict:
    with session_scope(engine) as s:
        wants = wanted_keys(s, group, cloud)
        records = {
            p.key_name: p
            for p in s.scalars(
                select(KeyPlacement).where(KeyPlacement.group_name == group, KeyPlacement.cloud_name == cloud)
            )
        }
        s.expunge_all()
    summary = {"group": group, "cloud": cloud, "created": [], "deleted": [], "conflicts": [], "errors": {}}
    try:
        store = store_for()
        live = {k.name: k.fingerprint for k in store.list()}
    except Unsupported as err:
        outcome = {name: None for name in records} | {
            name: (UNSUPPORTED, "", False, err.message) for name in wants
        }
        _write(engine, group, cloud, outcome, records, now)
        return {**summary, "unsupported": err.message}
    except ProviderError as err:
        return {**summary, "ok": False, "error": err.message}
    placed = {n: Placement(r.fingerprint, r.placed_by_us, r.state) for n, r in records.items()}
    plan = plan_keys(wants, live, placed)
    outcome: dict[str, tuple[str, str, bool, str | None] | None] = {n: None for n in plan.forget}
    for name in plan.create:
        try:
            made = store.import_key(name, wants[name])
            outcome[name] = (PRESENT, made.fingerprint, True, None)
            summary["created"].append(name)
        except ProviderError as err:
            outcome[name] = (ERROR, "", False, err.message)
            summary["errors"][name] = err.message
    for name in plan.delete:
        try:
            store.delete(name)
            outcome[name] = None
            summary["deleted"].append(name)
        except ProviderError as err:
            outcome[name] = (ERROR, records[name].fingerprint, True, f"delete failed: {err.message}")
            summary["errors"][name] = err.message
    for name, (fingerprint, ours) in plan.present.items():
        outcome[name] = (PRESENT, fingerprint, ours, None)
    for name, fingerprint in plan.conflicts.items():
        outcome[name] = (
            CONFLICT,
            fingerprint,
            False,
            f"the cloud has another key named {name!r} (fingerprint {fingerprint}); it is not overwritten",
        )
        summary["conflicts"].append(name)
    _write(engine, group, cloud, outcome, records, now)
    return {**summary, "ok": True}


def _write(engine: Engine, group: str, cloud: str, outcome: dict, records: dict, now: datetime) -> None:
    alerts: list[Alert] = []
    with session_scope(engine) as s:
        for name, result in outcome.items():
            old = records.get(name)
            if result is None:
                s.execute(
                    delete(KeyPlacement).where(
                        KeyPlacement.group_name == group,
                        KeyPlacement.cloud_name == cloud,
                        KeyPlacement.key_name == name,
                    )
                )
                _seen(s, group, cloud, name, None)
                alerts += _conflict_alert(group, cloud, name, old, None, now)
                continue
            state, fingerprint, ours, message = result
            row = s.get(KeyPlacement, (group, cloud, name)) or KeyPlacement(
                group_name=group, cloud_name=cloud, key_name=name
            )
            row.state, row.fingerprint, row.placed_by_us, row.message, row.updated_at = (
                state,
                fingerprint,
                ours,
                message,
                now,
            )
            s.add(row)
            if state == PRESENT:
                _seen(s, group, cloud, name, fingerprint)
            alerts += _conflict_alert(group, cloud, name, old, row, now)
    for alert in alerts:  # after the commit: a slow mail server must not hold the store's write lock
        deliver(alert)


def _seen(s, group: str, cloud: str, name: str, fingerprint: str | None) -> None:
    """Keep ``cloud_keypairs`` (the poller's view) in step at once, so pages need not wait for a poll."""
    row = s.get(CloudKeypair, (group, cloud, name))
    if fingerprint is None:
        if row is not None:
            s.delete(row)
    elif row is None:
        s.add(CloudKeypair(group_name=group, cloud_name=cloud, name=name, fingerprint=fingerprint))


def _conflict_alert(group: str, cloud: str, name: str, old, row, now: datetime) -> list[Alert]:
    """The alert a change of state raises: a conflict that appears, or one that clears."""
    was = old is not None and old.state == CONFLICT and old.alerted_at is not None
    key = f"key_conflict:{group}/{cloud}/{name}"
    if row is not None and row.state == CONFLICT:
        row.alerted_at = old.alerted_at if was else now
        if was:
            return []
        return [
            Alert(
                key=key,
                subject=f"keypair {name!r} on {group}/{cloud} is a different key",
                body=f"{row.message}. Rename one of them, or delete the cloud's keypair if it is stale; "
                "cloudscheduler will then import ours.",
            )
        ]
    if not was:
        return []
    if row is not None:
        row.alerted_at = None
    return [
        Alert(
            key=key,
            subject=f"resolved: keypair {name!r} on {group}/{cloud}",
            severity="resolved",
            body="the conflicting keypair is gone or no longer wanted",
        )
    ]
