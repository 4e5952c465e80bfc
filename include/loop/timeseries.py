"""One timeseries sample per (group, cloud) and per group total every cycle, under the original's
measurement names, computed by the same code as the status page so plots and tables always agree."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from include.status.tables import CloudStatus, GroupStatus, JobCounts, group_status
from include.store.models import TimeseriesSample


def cloud_values(c: CloudStatus) -> dict[str, int]:
    v = c.vms
    return {
        "VMs": c.vms_total,
        "VMs_starting": v["starting"],
        "VMs_unregistered": v["unregistered"],
        "VMs_idle": v["idle"],
        "VMs_running": v["running"],
        "VMs_retiring": v["retiring"],
        "VMs_manual": v["manual"],
        "VMs_in_error": v["error"],
        "Foreign_VMs": c.foreign_vms,
        "cores_native": c.cores_used,
        "cores_limit": c.cores_limit,
        "cores_quota": c.cores_quota,
        "cores_foreign": c.foreign_cores,
        "ram_native": c.ram_used,
        "ram_limit": c.ram_limit,
        "ram_quota": c.ram_quota,
        "ram_foreign": c.foreign_ram,
        "slot_count": c.slots,
        "slot_core_count": c.slot_cores,
        "slot_idle_core_count": c.idle_cores,
    }


def count_values(j: JobCounts) -> dict[str, int]:
    """One row of the jobs table (a group's total or one alias's) under csv2's names."""
    return {
        "jobs": j.total,
        "jobs_idle": j.idle,
        "jobs_running": j.running,
        "jobs_completed": j.completed,
        "jobs_held": j.held,
        "jobs_other": j.other,
    }


def job_values(g: GroupStatus) -> dict[str, int]:
    return {**count_values(g.jobs[0]), "jobs_foreign": g.foreign_jobs}  # jobs[0]: the group total


def sample(session: Session, now: datetime, groups: list[str]) -> int:
    """Write this cycle's samples; returns how many rows were written."""
    rows = []
    for g in group_status(session, groups, now):
        for c in g.clouds:
            rows.append(TimeseriesSample(ts=now, group_name=g.name, cloud_name=c.name, **cloud_values(c)))
        rows.append(
            TimeseriesSample(
                ts=now, group_name=g.name, cloud_name="", **cloud_values(g.total), **job_values(g)
            )
        )
    session.add_all(rows)
    session.flush()
    return len(rows)
