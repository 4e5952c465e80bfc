"""Bulk inserts (COPY on PostgreSQL) keep every value and fill the Python-side defaults."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from include.store.bulk import bulk_insert
from include.store.models import Vm

NOW = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_bulk_insert_round_trips_awkward_values(session):
    rows = [
        {
            "vm_id": f"v-{i}",
            "group_name": "g1",
            "cloud_name": "c1",
            "requested_at": NOW,
            "status": "active",
            "error": None if i % 2 else "tab\there\\back\nnewline \\N",
            "ips": [f"10.0.0.{i % 250}", "::1"],
            "created_at": NOW,
            "spot": bool(i % 3),
        }
        for i in range(700)
    ]
    bulk_insert(session, Vm.__table__, rows)
    session.commit()
    got = {v.vm_id: v for v in session.scalars(select(Vm))}
    assert len(got) == 700
    assert got["v-0"].error == "tab\there\\back\nnewline \\N" and got["v-1"].error is None
    assert got["v-7"].ips == ["10.0.0.7", "::1"] and got["v-7"].created_at == NOW and got["v-7"].spot
    assert got["v-3"].retire_count == 0 and got["v-3"].manual is False and got["v-3"].delete_attempts == 0
