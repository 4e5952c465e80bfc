"""The queue of a simulated pool as the store keeps it: what a job's ad looks like, and the lock that
serialises every writer of one pool (submits, the negotiator, commands). Shared by the pool adapter
and the negotiator, which need each other's data but not each other."""

from __future__ import annotations

from include.condor.classads import RUNNING
from include.store.models import SimPool

DEFAULT_SCHEDD = "sim-schedd"
UID_DOMAIN = "sim.cloudscheduler"
MACHINE_BASICS = {"Arch": "X86_64", "OpSys": "LINUX", "HasFileTransfer": True}
# What condor_submit adds to every job's Requirements, after the user's own clauses.
SUBMIT_REQUIREMENTS = (
    '(TARGET.Arch == "X86_64") && (TARGET.OpSys == "LINUX") && (TARGET.Disk >= RequestDisk) && '
    "(TARGET.Memory >= RequestMemory) && (TARGET.Cpus >= RequestCpus)"
)


def global_job_id(job) -> str:
    return f"{job.schedd}#{job.cluster_id}.{job.proc_id}#{int(job.q_date.timestamp())}"


def job_ad(job):
    """The schedd's ad of a simulated job (a real ClassAd; Requirements a real expression)."""
    import classad2

    ad = classad2.ClassAd(
        {
            **(job.attrs or {}),
            "GlobalJobId": global_job_id(job),
            "ClusterId": job.cluster_id,
            "ProcId": job.proc_id,
            "JobStatus": job.status,
            "JobUniverse": 5,
            "Owner": job.owner,
            "User": f"{job.owner}@{UID_DOMAIN}",
            "RequestCpus": job.request_cpus,
            "RequestMemory": job.request_memory_mb,
            "RequestDisk": job.request_disk_kb,
            "QDate": int(job.q_date.timestamp()),
            "EnteredCurrentStatus": int(job.entered_status_at.timestamp()),
        }
    )
    ad["Requirements"] = classad2.ExprTree(job.requirements)
    if job.status == RUNNING and job.machine:
        ad["RemoteHost"] = f"slot1_{job.slot_id}@{job.machine}"
    if job.hold_reason:
        ad["HoldReason"] = job.hold_reason
    if job.status != RUNNING and job.rejected_at is not None:  # as the schedd notes the negotiator's word
        ad["LastRejMatchTime"] = int(job.rejected_at.timestamp())
        ad["LastRejMatchReason"] = "no match found "
    return ad


def lock_pool(session, key: str):
    """The pool's row, locked for this transaction (created on first use). Serialises every writer of
    one simulated pool: submits, advances and commands never interleave."""

    if session.get(SimPool, key) is None:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        session.execute(insert(SimPool).values(name=key).on_conflict_do_nothing())  # column defaults apply
    return session.get(SimPool, key, with_for_update=True, populate_existing=True)
