"""The simulated HTCondor pool's own state: its queue, its startds, and its clock.

Written only by include/condor (``simulated.py``, ``negotiator.py``). Every call of the simulated pool
loads what it needs from here and writes back what changed, because Airflow tasks run in separate
processes: nothing survives in memory between calls.

Invariants:
- ``sim_pools.advanced_at`` is the simulated time up to which events (completions, registrations,
  departures, negotiation cycles) have been applied; ``advance`` never moves it backwards.
- A startd row with ``left_at`` set has left the pool (peaceful shutdown, invalidated, or its VM is
  gone); it is kept so that the same VM does not register again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from include.store.models.base import Base, UTCDateTime, utcnow
from include.store.models.config import NAME


class SimPool(Base):
    """One simulated pool; its row is also the lock that serialises ``advance`` calls."""

    __tablename__ = "sim_pools"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    advanced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    negotiator_interval_s: Mapped[int] = mapped_column(Integer, default=20)
    # How the negotiator places jobs on partitionable slots (include/simulated/negotiator.PACKINGS):
    # "depth_first" is the configuration the README recommends, "default" a pool left as HTCondor ships.
    packing: Mapped[str] = mapped_column(String(32), default="depth_first")
    # condor_defrag on the central manager, as the README configures it for multi-core jobs: the cores a
    # drained VM must have free for its drain to be cancelled (DEFRAG_WHOLE_MACHINE_EXPR = Cpus >= N);
    # 0 = no defrag daemon, as HTCondor ships (include/simulated/negotiator.py, "condor_defrag").
    defrag_whole_cores: Mapped[int] = mapped_column(Integer, default=0)
    # Each user's multi-core jobs negotiated before their 1-core ones, as the README's schedd transform
    # (JobPrio raised for RequestCpus > 1) makes a real pool do; False: queue order (JobPrio, then age).
    multicore_first: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_retention_s: Mapped[int] = mapped_column(Integer, default=600)  # completed jobs stay queued
    next_cluster: Mapped[int] = mapped_column(Integer, default=1)
    down: Mapped[list[str]] = mapped_column(JSON, default=list)  # injected faults: "collector", "schedd:<n>"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SimJob(Base):
    """One job in a simulated schedd's queue. ``status`` is the HTCondor JobStatus integer."""

    __tablename__ = "sim_jobs"
    __table_args__ = (Index("ix_sim_jobs_pool_status", "pool", "status"),)

    pool: Mapped[str] = mapped_column(String(255), primary_key=True)
    cluster_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proc_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedd: Mapped[str] = mapped_column(String(255))
    owner: Mapped[str] = mapped_column(String(128))
    status: Mapped[int] = mapped_column(Integer, default=1)  # 1 idle 2 running 4 completed 5 held
    request_cpus: Mapped[int] = mapped_column(Integer)
    request_memory_mb: Mapped[int] = mapped_column(Integer)
    request_disk_kb: Mapped[int] = mapped_column(Integer)
    requirements: Mapped[str] = mapped_column(Text)  # a ClassAd expression, evaluated at match time
    attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # VMImage, JobPrio, ... as given
    duration_s: Mapped[int] = mapped_column(Integer)
    q_date: Mapped[datetime] = mapped_column(UTCDateTime)
    entered_status_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    machine: Mapped[str | None] = mapped_column(String(255))  # the startd it runs (or last ran) on
    slot_id: Mapped[int | None] = mapped_column(Integer)  # N of its dynamic slot slot1_N@machine
    evictions: Mapped[int] = mapped_column(Integer, default=0)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    # the last negotiation cycle that found no slot for it while some startd had room (LastRejMatchTime)
    rejected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SimStartd(Base):
    """The startd of one simulated VM: one partitionable slot; dynamic slots are its running jobs."""

    __tablename__ = "sim_startds"

    pool: Mapped[str] = mapped_column(String(255), primary_key=True)
    machine: Mapped[str] = mapped_column(String(255), primary_key=True)  # host name = the VM's name
    instance_id: Mapped[str] = mapped_column(String(64), index=True)
    group_name: Mapped[str] = mapped_column(String(NAME))
    cloud_name: Mapped[str] = mapped_column(String(NAME))
    attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # STARTD_ATTRS from the user-data
    cores: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    disk_kb: Mapped[int] = mapped_column(Integer)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the partitionable slot's
    next_slot: Mapped[int] = mapped_column(Integer, default=1)
    retire_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retire_how: Mapped[str | None] = mapped_column(String(16))
    # a drain of this startd (condor_defrag's or ours), from its start until it ends (resumed or cancelled)
    drain_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    drain_reason: Mapped[str | None] = mapped_column(Text)  # its DrainReason; None: condor_defrag's
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    left_reason: Mapped[str | None] = mapped_column(String(32))  # retired | invalidated | vm_gone
