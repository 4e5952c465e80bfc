"""Observed state: what the pollers saw in the pool and the clouds, and what the control loop did.

Invariants:
- A failed poll never deletes rows here; it marks its ``PollStatus`` row not ok (the source is stale).
- ``Vm.vm_id`` is the one id that joins the cloud record (server name and tag/metadata) and the pool
  record (the ``CS_VM_ID`` attribute our startds advertise, ``Machine.vm_id``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from include.store.models.base import Base, UTCDateTime, utcnow
from include.store.models.config import NAME


class PollStatus(Base):
    """Freshness of one source: ``condor/<group>/<part>`` or ``cloud/<group>/<cloud>``."""

    __tablename__ = "poll_status"

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # condor | cloud
    group_name: Mapped[str | None] = mapped_column(String(NAME))
    cloud_name: Mapped[str | None] = mapped_column(String(NAME))
    last_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Job(Base):
    """One job ad, normalised: cores, MB, GB. ``group_name`` None = foreign job (counted, ignored)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_group_status", "group_name", "status"),)

    pool: Mapped[str] = mapped_column(String(255), primary_key=True)
    global_job_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    schedd: Mapped[str] = mapped_column(String(255), default="")
    group_name: Mapped[str | None] = mapped_column(String(NAME))
    target_alias: Mapped[str | None] = mapped_column(String(NAME))
    owner: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[int] = mapped_column(Integer)  # HTCondor JobStatus: 1 idle 2 running 4 done 5 held
    cores: Mapped[int] = mapped_column(Integer, default=1)
    ram_mb: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[float] = mapped_column(Float, default=0.0)
    swap_gb: Mapped[float] = mapped_column(Float, default=0.0)
    image: Mapped[str | None] = mapped_column(String(1024))  # VMImage as given
    instance_type: Mapped[str | None] = mapped_column(String(1024))  # VMInstanceType as given
    network: Mapped[str | None] = mapped_column(String(1024))
    keep_alive: Mapped[int | None] = mapped_column(Integer)  # VMKeepAlive, seconds
    max_price: Mapped[float | None] = mapped_column(Float)  # VMMaximumPrice
    user_data: Mapped[str | None] = mapped_column(Text)  # VMUserData
    priority: Mapped[int] = mapped_column(Integer, default=0)  # JobPrio
    q_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    entered_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    remote_host: Mapped[str | None] = mapped_column(String(255))
    vm_id: Mapped[str | None] = mapped_column(String(128))  # the VM it runs on, when known
    # LastRejMatchTime, when the negotiator's last word was "no match found" (LastRejMatchReason)
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UnmatchedJob(Base):
    """An idle job the negotiator rejected while an idle VM of ours that fits it was in the pool: its
    Requirements (or our startds' START) exclude our VMs. It drives no boot and keeps no VM until
    ``since`` + ``job_unmatched_recheck`` (the planner's decision, kept across runs by the loop)."""

    __tablename__ = "unmatched_jobs"

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(255), primary_key=True)  # GlobalJobId
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    vm_id: Mapped[str] = mapped_column(String(128), default="")  # the idle VM it was rejected beside


class Machine(Base):
    """One startd slot ad from the collector."""

    __tablename__ = "machines"
    __table_args__ = (Index("ix_machines_vm", "vm_id"),)

    pool: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    machine: Mapped[str] = mapped_column(String(255), default="")
    vm_id: Mapped[str | None] = mapped_column(String(128))  # CS_VM_ID; None = not one of ours
    group_name: Mapped[str | None] = mapped_column(String(NAME))
    cloud_name: Mapped[str | None] = mapped_column(String(NAME))
    flavor: Mapped[str | None] = mapped_column(String(255))
    target_alias: Mapped[str | None] = mapped_column(String(NAME))
    slot_type: Mapped[str] = mapped_column(String(16), default="Static")  # Partitionable|Dynamic|Static
    state: Mapped[str] = mapped_column(String(32), default="")
    activity: Mapped[str] = mapped_column(String(32), default="")
    cores: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    total_cores: Mapped[int] = mapped_column(Integer, default=0)
    total_memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    entered_state_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remote_owner: Mapped[str | None] = mapped_column(String(255))
    global_job_id: Mapped[str | None] = mapped_column(String(255))
    retiring: Mapped[bool] = mapped_column(Boolean, default=False)
    drain_reason: Mapped[str | None] = mapped_column(Text)  # DrainReason: free text (condor_drain -reason)


class Vm(Base):
    """A VM we booted (or adopted: by our tag, or as cloudscheduler v2's). Cloud-side facts plus the
    loop's bookkeeping."""

    __tablename__ = "vms"
    __table_args__ = (Index("ix_vms_group_cloud", "group_name", "cloud_name"),)

    vm_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(NAME))
    cloud_name: Mapped[str] = mapped_column(String(NAME))
    request_id: Mapped[str | None] = mapped_column(String(128), index=True)
    cloud_vm_id: Mapped[str | None] = mapped_column(String(255))  # nova uuid / i-..., None until created
    flavor: Mapped[str | None] = mapped_column(String(255))
    image: Mapped[str | None] = mapped_column(String(255))
    cores: Mapped[int] = mapped_column(Integer, default=0)
    ram_mb: Mapped[int] = mapped_column(Integer, default=0)
    target_alias: Mapped[str | None] = mapped_column(String(NAME))
    keep_alive: Mapped[int | None] = mapped_column(Integer)
    spot: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="requested")  # VmStatus value
    cloud_status: Mapped[str | None] = mapped_column(String(64))  # the cloud's raw word
    error: Mapped[str | None] = mapped_column(Text)
    ips: Mapped[list[str]] = mapped_column(JSON, default=list)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # as the cloud reports it
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last poll that listed it
    # Pool-side history, kept by the control loop from the startd ads (include/loop/sync.py):
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first slot seen in the pool
    first_job_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first slot seen claimed
    slots_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # "age" of csv2: last change
    slot_signature: Mapped[str | None] = mapped_column(String(255))  # what the slots looked like then
    manual: Mapped[bool] = mapped_column(Boolean, default=False)  # operator control: loop leaves it
    retire_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retire_reason: Mapped[str | None] = mapped_column(String(64))
    retire_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retire_count: Mapped[int] = mapped_column(Integer, default=0)
    kill_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # operator: delete now
    delete_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delete_attempts: Mapped[int] = mapped_column(Integer, default=0)
    boot_failure_counted: Mapped[bool] = mapped_column(Boolean, default=False)
    adopted_from: Mapped[str | None] = mapped_column(String(16))  # "csv2": booted by cloudscheduler v2


class CloudFlavor(Base):
    __tablename__ = "cloud_flavors"

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    flavor_id: Mapped[str] = mapped_column(String(255), default="")
    cores: Mapped[int] = mapped_column(Integer)
    ram_mb: Mapped[int] = mapped_column(Integer)
    disk_gb: Mapped[float] = mapped_column(Float, default=0.0)
    ephemeral_gb: Mapped[float] = mapped_column(Float, default=0.0)
    swap_gb: Mapped[float] = mapped_column(Float, default=0.0)
    price: Mapped[float | None] = mapped_column(Float)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)


class CloudImage(Base):
    __tablename__ = "cloud_images"

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    image_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    checksum: Mapped[str | None] = mapped_column(String(128))
    size: Mapped[int | None] = mapped_column(BigInteger)  # bytes: images pass 2 GiB
    disk_format: Mapped[str | None] = mapped_column(String(32))
    container_format: Mapped[str | None] = mapped_column(String(32))
    visibility: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    placed_by_us: Mapped[bool] = mapped_column(Boolean, default=False)


class CloudKeypair(Base):
    __tablename__ = "cloud_keypairs"

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(128), default="")


class CloudNetwork(Base):
    __tablename__ = "cloud_networks"

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    network_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    external: Mapped[bool] = mapped_column(Boolean, default=False)


class CloudSecurityGroup(Base):
    __tablename__ = "cloud_security_groups"

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    sg_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")


class CloudLimits(Base):
    """Quota and usage of one cloud project; -1 = unlimited. Foreign = not this group/cloud's VMs."""

    __tablename__ = "cloud_limits"

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cores_max: Mapped[int] = mapped_column(Integer, default=-1)
    cores_used: Mapped[int] = mapped_column(Integer, default=0)
    ram_max_mb: Mapped[int] = mapped_column(Integer, default=-1)
    ram_used_mb: Mapped[int] = mapped_column(Integer, default=0)
    instances_max: Mapped[int] = mapped_column(Integer, default=-1)
    instances_used: Mapped[int] = mapped_column(Integer, default=0)
    volumes_max: Mapped[int] = mapped_column(Integer, default=-1)
    volumes_used: Mapped[int] = mapped_column(Integer, default=0)
    volume_gb_max: Mapped[int] = mapped_column(Integer, default=-1)
    volume_gb_used: Mapped[int] = mapped_column(Integer, default=0)
    foreign_vms: Mapped[int] = mapped_column(Integer, default=0)
    foreign_cores: Mapped[int] = mapped_column(Integer, default=0)
    foreign_ram_mb: Mapped[int] = mapped_column(Integer, default=0)
    polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    credential_kind: Mapped[str | None] = mapped_column(String(32))
    credential_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # as the cloud reports it
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BootRequest(Base):
    """The intent, written before the cloud call; its id makes the create idempotent."""

    __tablename__ = "boot_requests"

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(NAME))
    cloud_name: Mapped[str] = mapped_column(String(NAME))
    flavor: Mapped[str] = mapped_column(String(255))
    image: Mapped[str] = mapped_column(String(255))
    count: Mapped[int] = mapped_column(Integer)
    target_alias: Mapped[str | None] = mapped_column(String(NAME))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="planned")  # planned|sent|done|failed
    # What the planner decided for these VMs, carried to the create call (None: a request recorded
    # before these columns existed, booted with the cloud's and group's settings).
    owners: Mapped[list[str] | None] = mapped_column(JSON)  # job owners the VMs are for, most jobs first
    network: Mapped[str | None] = mapped_column(
        String(255)
    )  # the job's VMNetwork for this cloud, else default
    keyname: Mapped[str | None] = mapped_column(String(255))
    security_groups: Mapped[list[str] | None] = mapped_column(JSON)
    user_data: Mapped[str | None] = mapped_column(Text)  # the jobs' VMUserData
    spot_price: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Backoff(Base):
    """Boot failures of one (cloud, flavor); ``disabled`` after N in a row until cleared."""

    __tablename__ = "backoffs"

    group_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    flavor: Mapped[str] = mapped_column(String(255), primary_key=True)  # "" = the whole cloud
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The boot time of the latest-booted VM there that registered, and which VM: the failure of a VM
    # booted no later than another VM that registered does not extend the streak (a batch whose
    # stragglers fail together is not "N failures in a row").
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_vm: Mapped[str | None] = mapped_column(String(128))


class PlanRun(Base):
    __tablename__ = "plan_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    group_name: Mapped[str | None] = mapped_column(String(NAME))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    boots: Mapped[int] = mapped_column(Integer, default=0)
    retires: Mapped[int] = mapped_column(Integer, default=0)
    deletes: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PlanSkip(Base):
    """Why a demand group was left unserved (or a VM left alone) in one planning run."""

    __tablename__ = "plan_skips"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(Integer, ForeignKey("plan_runs.id", ondelete="CASCADE"), index=True)
    group_name: Mapped[str] = mapped_column(String(NAME))
    cloud_name: Mapped[str | None] = mapped_column(String(NAME))
    subject: Mapped[str] = mapped_column(String(255))  # a demand shape key or a vm_id
    reason: Mapped[str] = mapped_column(String(32))  # SkipReason value
    jobs: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str] = mapped_column(Text, default="")


# The measurement names of the original's InfluxDB series, one column each, so dashboards keep meaning.
TIMESERIES_MEASUREMENTS = (
    "jobs",
    "jobs_idle",
    "jobs_running",
    "jobs_completed",
    "jobs_held",
    "jobs_other",
    "jobs_foreign",
    "VMs",
    "VMs_starting",
    "VMs_unregistered",
    "VMs_idle",
    "VMs_running",
    "VMs_retiring",
    "VMs_manual",
    "VMs_in_error",
    "Foreign_VMs",
    "cores_native",
    "cores_limit",
    "cores_quota",
    "cores_foreign",
    "ram_native",
    "ram_limit",
    "ram_quota",
    "ram_foreign",
    "slot_count",
    "slot_core_count",
    "slot_idle_core_count",
)


class TimeseriesSample(Base):
    """One sample per (group, cloud) per cycle; ``cloud_name`` '' is the group total."""

    __tablename__ = "timeseries"
    __table_args__ = (Index("ix_timeseries_group_ts", "group_name", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    group_name: Mapped[str] = mapped_column(String(NAME))
    cloud_name: Mapped[str] = mapped_column(String(NAME), default="")


for _name in TIMESERIES_MEASUREMENTS:
    setattr(TimeseriesSample, _name, mapped_column(_name, Integer, default=0))
