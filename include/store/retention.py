"""Retention of our high-volume tables: timeseries samples, planning-run records, and the usage records
of VMs deleted long ago."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from include.store.models import BootRequest, PlanRun, TimeseriesSample, VmUsage

PLAN_RUN_DAYS = 7
BOOT_REQUEST_DAYS = 30


def prune(session: Session, now: datetime, timeseries_days: int, usage_days: int = 200) -> dict[str, int]:
    """Delete rows older than their retention; returns the number deleted per table. A usage record
    goes ``usage_days`` after its VM was deleted, never while the VM lives."""
    cut = {
        "timeseries": (TimeseriesSample, TimeseriesSample.ts, now - timedelta(days=timeseries_days)),
        "plan_runs": (PlanRun, PlanRun.at, now - timedelta(days=PLAN_RUN_DAYS)),
        "boot_requests": (BootRequest, BootRequest.created_at, now - timedelta(days=BOOT_REQUEST_DAYS)),
        "vm_usage": (VmUsage, VmUsage.deleted_at, now - timedelta(days=usage_days)),
    }
    counts = {}
    for name, (model, column, before) in cut.items():
        query = delete(model).where(column < before)
        if model is BootRequest:
            query = query.where(BootRequest.state.in_(("done", "failed")))  # keep open intents forever
        counts[name] = session.execute(query).rowcount or 0
    return counts
