"""Operational alerts: e-mail through the `cs_smtp` Connection, Slack through the `cs_slack` webhook
Connection, and a JSON-lines sink file (``CLOUDSCHEDULER_ALERT_SINK``) that tests and log shippers read.

Lives in an installed package (not a DAG file) because Airflow's triggerer imports deadline callbacks by
module path. Connections are looked up only when an alert is delivered, never at DAG parse time. A
channel that fails is logged and skipped: an alert must never fail the control loop that raised it.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

log = logging.getLogger(__name__)

SINK_ENV = "CLOUDSCHEDULER_ALERT_SINK"
SMTP_CONN_ID = "cs_smtp"  # extras: {"to": "ops@example.org,..."}; see README "Alerts"
SLACK_CONN_ID = "cs_slack"  # a slack webhook connection


@dataclass(frozen=True)
class Alert:
    key: str  # stable identity, e.g. "cloud_disabled:atlas/east", used for de-duplication
    subject: str
    body: str
    severity: str = "warning"  # warning | critical | resolved
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def deliver(alert: Alert) -> list[str]:
    """Send ``alert`` on every configured channel; returns the channels that took it."""
    delivered = []
    for name, channel in (("sink", _to_sink), ("smtp", _to_smtp), ("slack", _to_slack)):
        try:
            if channel(alert):
                delivered.append(name)
        except Exception:  # noqa: BLE001 - one broken channel must not stop the others or the caller
            log.exception("alert channel %s failed for %s", name, alert.key)
    log.warning("ALERT %s [%s] %s -> %s", alert.key, alert.severity, alert.subject, delivered or "no channel")
    return delivered


def _to_sink(alert: Alert) -> bool:
    path = os.environ.get(SINK_ENV)
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as sink:
        sink.write(json.dumps(asdict(alert)) + "\n")
    return True


def _connection(conn_id: str):
    from airflow.sdk import Connection

    try:
        return Connection.get(conn_id)
    except Exception:  # noqa: BLE001 - "not configured" is the normal case for optional channels
        return None


def _to_smtp(alert: Alert) -> bool:
    conn = _connection(SMTP_CONN_ID)
    if conn is None:
        return False
    recipients = [a.strip() for a in str(conn.extra_dejson.get("to", "")).split(",") if a.strip()]
    if not recipients:
        log.warning("connection %s has no 'to' extra; e-mail alert not sent", SMTP_CONN_ID)
        return False
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=SMTP_CONN_ID) as hook:
        hook.send_email_smtp(
            to=recipients,
            subject=f"[cloudscheduler] {alert.subject}",
            html_content=f"<pre>{_escape(alert.body)}</pre>",
        )
    return True


def _to_slack(alert: Alert) -> bool:
    if _connection(SLACK_CONN_ID) is None:
        return False
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    SlackWebhookHook(slack_webhook_conn_id=SLACK_CONN_ID).send(text=f"*{alert.subject}*\n{alert.body}")
    return True


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def dag_failure_callback(context) -> None:
    """DAG-level ``on_failure_callback``: one alert per failed run."""
    dag_run = context.get("dag_run")
    dag_id = getattr(dag_run, "dag_id", None) or context.get("dag").dag_id
    run_id = getattr(dag_run, "run_id", "?")
    reason = context.get("reason") or context.get("exception") or "see the run's task logs"
    deliver(
        Alert(
            key=f"dag_failed:{dag_id}",
            severity="critical",
            subject=f"DAG {dag_id} failed",
            body=f"run {run_id} of {dag_id} failed: {reason}",
        )
    )
