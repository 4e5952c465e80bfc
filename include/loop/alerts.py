"""Which operational conditions alert, evaluated once per scheduling cycle.

Conditions (F10): booting disabled on a cloud/flavour after repeated failures; a poller stale too long;
VMs deleted because they never registered; retires that went unanswered; a planner skip flagged for an
operator (an expiring credential). Level conditions alert when they start and again when they clear
(``alert_states`` remembers which are active), so a cloud that stays disabled does not mail every 30 s.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from include.alerting import Alert, deliver
from include.config.settings import Settings
from include.scheduler.actions import Plan
from include.scheduler.reasons import DeleteReason
from include.store.freshness import CLOUD, POOL
from include.store.models import AlertState, Backoff, PollStatus

STALE_ALERT_FACTOR = 3
MINE = (
    "boot_disabled:",
    "stale:",
    "skip:",
)  # alert_states rows this module raises and may clear  # a source stale for 3x stale_after (9 min by default) is an outage, not a blip


def evaluate(
    session: Session, plan: Plan | None, now: datetime, settings: Settings, groups: list[str]
) -> list[Alert]:
    """Deliver the alerts this cycle raises; returns them (for the run's log and tests)."""
    level = dict(_level_conditions(session, now, settings, groups, plan))
    sent = _update_levels(session, level, now, groups)
    for alert in _events(plan):
        deliver(alert)
        sent.append(alert)
    return sent


def _level_conditions(session, now, settings, groups, plan):
    for b in session.scalars(select(Backoff).where(Backoff.group_name.in_(groups), Backoff.disabled)):
        where = f"{b.group_name}/{b.cloud_name}" + (f" flavour {b.flavor}" if b.flavor else "")
        yield (
            f"boot_disabled:{b.group_name}/{b.cloud_name}/{b.flavor}",
            (
                f"booting disabled on {where}",
                f"{b.failures} boot failures in a row; last: {b.last_error or '?'}. Clear it with the cs_ops_cloud "
                f"DAG (enable) or `cloudscheduler cloud update --enabled yes` once the cause is fixed.",
            ),
        )
    limit = timedelta(seconds=settings.stale_after * STALE_ALERT_FACTOR)
    for p in session.scalars(select(PollStatus).where(PollStatus.group_name.in_(groups))):
        if p.last_success is None or now - p.last_success > limit:
            since = p.last_success.isoformat() if p.last_success else "never"
            yield (
                f"stale:{p.source}",
                (
                    f"{p.source} has not polled successfully since {since}",
                    f"last error: {p.error or '?'}; its part of the snapshot is frozen",
                ),
            )
    for s in plan.skips if plan else ():
        if s.alert:
            yield (
                f"skip:{s.group}/{s.cloud}:{s.reason.value}",
                (f"{s.group}/{s.cloud or '*'}: {s.reason.value}", s.detail or s.subject),
            )


def _update_levels(
    session: Session, active: dict[str, tuple[str, str]], now: datetime, groups: list[str]
) -> list[Alert]:
    sent = []
    states = {a.key: a for a in session.scalars(select(AlertState))}
    for key, (subject, body) in sorted(active.items()):
        state = states.get(key)
        if state is None or not state.active:
            alert = Alert(key=key, subject=subject, body=body)
            deliver(alert)
            sent.append(alert)
            if state is None:
                state = AlertState(key=key, since=now)
                session.add(state)
            state.active, state.since, state.last_sent_at, state.subject = True, now, now, subject
    for key, state in states.items():
        if state.active and key not in active and key.startswith(MINE) and _concerns(key, groups):
            alert = Alert(
                key=key,
                subject=f"resolved: {state.subject}",
                body="the condition cleared",
                severity="resolved",
            )
            deliver(alert)
            sent.append(alert)
            state.active, state.last_sent_at = False, now
    session.flush()
    return sent


def _concerns(key: str, groups: list[str]) -> bool:
    """Only this run's groups may clear an alert (another group's run evaluates its own)."""
    scope = key.split(":", 1)[1]
    scope = scope.removeprefix(f"{POOL}/").removeprefix(f"{CLOUD}/")
    return scope.split("/", 1)[0] in groups


def _events(plan: Plan | None) -> list[Alert]:
    if plan is None:
        return []
    never = Counter((d.group, d.cloud) for d in plan.deletes if d.reason == DeleteReason.NEVER_REGISTERED)
    alerts = [
        Alert(
            key=f"never_registered:{g}/{c}",
            subject=f"{n} VM(s) on {g}/{c} never registered",
            body="deleted after the registration timeout and counted as boot failures; check the "
            "image, the metadata (cs_vm_id, CONDOR_HOST) and the network path to the collector",
        )
        for (g, c), n in sorted(never.items())
    ]
    for d in plan.deletes:
        if d.alert and d.reason == DeleteReason.RETIRE_TIMEOUT:
            alerts.append(
                Alert(
                    key=f"unanswered:{d.vm_id}",
                    subject=f"VM {d.vm_id} never answered its retire",
                    body=f"{d.reason.value}: {d.detail}; deleted",
                )
            )
    return alerts
