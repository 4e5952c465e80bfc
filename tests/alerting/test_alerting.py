"""Alerts reach the sink file and a real SMTP server through the cs_smtp Connection; a broken or
missing channel never raises."""

from __future__ import annotations

import email
import json
import socket
import time

import pytest
from aiosmtpd.controller import Controller

from include.alerting import Alert, dag_failure_callback, deliver


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(monkeypatch):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {
            "to": "ops@example.org, oncall@example.org",
            "disable_ssl": True,
            "disable_tls": True,
            "from_email": "cloudscheduler@example.org",
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_CS_SMTP", json.dumps(conn))
    yield inbox
    controller.stop()


def test_alert_goes_to_sink_and_smtp(tmp_path, monkeypatch, smtp):
    sink = tmp_path / "alerts.jsonl"
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(sink))
    channels = deliver(
        Alert(
            key="cloud_disabled:atlas/east",
            subject="cloud atlas/east disabled",
            body="3 boot failures in a row: <quota>",
        )
    )
    assert channels == ["sink", "smtp"]
    [line] = sink.read_text().splitlines()
    assert json.loads(line)["key"] == "cloud_disabled:atlas/east"
    for _ in range(50):
        if smtp.messages:
            break
        time.sleep(0.05)
    [(rcpts, content)] = smtp.messages
    assert rcpts == ["ops@example.org", "oncall@example.org"]
    assert "Subject: [cloudscheduler] cloud atlas/east disabled" in content
    html = next(
        part for part in email.message_from_string(content).walk() if part.get_content_type() == "text/html"
    )
    assert "3 boot failures in a row: &lt;quota&gt;" in html.get_payload(decode=True).decode()


def test_unreachable_smtp_is_logged_not_raised(tmp_path, monkeypatch):
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": free_port(),
        "extra": {"to": "a@b.c", "disable_ssl": True, "disable_tls": True, "retry_limit": 1, "timeout": 2},
    }
    monkeypatch.setenv("AIRFLOW_CONN_CS_SMTP", json.dumps(conn))
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(tmp_path / "a.jsonl"))
    assert deliver(Alert(key="k", subject="s", body="b")) == ["sink"]


def test_no_channel_configured_delivers_nowhere(monkeypatch):
    monkeypatch.delenv("CLOUDSCHEDULER_ALERT_SINK", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_CS_SMTP", raising=False)
    assert deliver(Alert(key="k", subject="s", body="b")) == []


def test_dag_failure_callback_names_dag_and_run(tmp_path, monkeypatch):
    sink = tmp_path / "alerts.jsonl"
    monkeypatch.setenv("CLOUDSCHEDULER_ALERT_SINK", str(sink))

    class Run:
        dag_id, run_id = "cs_schedule", "scheduled__2026-01-01"

    dag_failure_callback({"dag_run": Run(), "reason": "task_failure"})
    alert = json.loads(sink.read_text())
    assert alert["key"] == "dag_failed:cs_schedule" and alert["severity"] == "critical"
    assert "scheduled__2026-01-01" in alert["body"]
