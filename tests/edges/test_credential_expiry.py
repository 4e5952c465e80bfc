"""Expiring credentials are read from Keystone, not typed: an application credential's ``expires_at``
stops booting ``credential_expiry_days`` before, with an alert and a reason; a password's token expiry
is noted; a typed ``credential_expiry`` still overrides what Keystone says."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from include.store.db import session_scope
from include.store.models import Cloud, CloudLimits, PlanSkip
from tests.faults.conftest import alerts

pytestmark = pytest.mark.edges
JOB = {"cores": 1, "ram_mb": 900, "duration_s": 3600}


def use_application_credential(mixed, monkeypatch, expires_in: timedelta | None) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_CS_FAULT_OS",
        json.dumps(
            {
                "conn_type": "generic",
                "extra": {"application_credential_id": "ac-1", "application_credential_secret": "ac-secret"},
            }
        ),
    )
    when = None if expires_in is None else datetime.now(UTC) + expires_in
    mixed.nova.app_cred_expiry["ac-1"] = when.strftime("%Y-%m-%dT%H:%M:%S.000000") if when else None


def limits(world) -> CloudLimits:
    with session_scope(world.engine) as s:
        return s.get(CloudLimits, ("atlas", "os"))


def test_an_application_credential_expiring_in_3_days_stops_booting_with_an_alert(
    mixed, monkeypatch, tmp_path
):
    use_application_credential(mixed, monkeypatch, timedelta(days=3))
    w = mixed.world
    w.submit(1, target_alias="to-os", **JOB)
    w.run(60)
    row = limits(w)
    assert row.credential_kind == "application_credential"
    assert row.credential_expires_at - datetime.now(UTC) > timedelta(days=2, hours=23)
    assert mixed.nova.servers == {}  # nothing booted there
    with session_scope(w.engine) as s:
        reasons = {
            (p.subject, p.reason) for p in s.scalars(select(PlanSkip).where(PlanSkip.cloud_name == "os"))
        }
    assert ("cloud:os", "credential_expiring") in reasons
    sent = [a for a in alerts(tmp_path) if a["key"] == "skip:atlas/os:credential_expiring"]
    assert len(sent) == 1 and "expires" in sent[0]["body"]


def test_one_expiring_in_30_days_boots_and_a_password_notes_its_token(mixed, monkeypatch):
    use_application_credential(mixed, monkeypatch, timedelta(days=30))
    w = mixed.world
    w.submit(1, target_alias="to-os", **JOB)
    w.run(60)
    assert len(mixed.nova.servers) == 1
    monkeypatch.setenv(
        "AIRFLOW_CONN_CS_FAULT_OS",
        json.dumps(
            {"conn_type": "generic", "login": "u", "password": "pw", "extra": {"project_name": "htc"}}
        ),
    )
    w.run(60)
    row = limits(w)
    assert row.credential_kind == "password" and row.credential_expires_at is None
    assert row.token_expires_at is not None and row.token_expires_at > datetime.now(UTC)


def test_a_typed_expiry_overrides_keystone(mixed, monkeypatch):
    use_application_credential(mixed, monkeypatch, None)  # Keystone: never expires
    w = mixed.world
    with session_scope(w.engine) as s:
        s.execute(
            update(Cloud)
            .where(Cloud.name == "os")
            .values(credential_expiry=datetime.now(UTC) + timedelta(days=1))
        )
    w.submit(1, target_alias="to-os", **JOB)
    w.run(60)
    assert mixed.nova.servers == {}
