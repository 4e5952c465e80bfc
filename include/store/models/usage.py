"""Usage accounting: one record per VM ever booted, kept after the VM's own row is gone.

Invariants:
- ``vm_id`` is the id that joins the cloud record and the startd (``Vm.vm_id``); one record per VM.
- ``busy_core_s`` and ``idle_core_s`` only grow, and only by ``now - accounted_at``: accounting again at
  the same ``now`` (a retried task) adds nothing (``include/loop/accounting.py``).
- A record with ``deleted_at`` set is closed: nothing is added to it again. Closed records older than
  the ``usage_retention_days`` setting are pruned (``include/store/retention.py``); open ones never are.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from include.store.models.base import Base, UTCDateTime
from include.store.models.config import NAME


class VmUsage(Base):
    __tablename__ = "vm_usage"
    __table_args__ = (
        Index("ix_vm_usage_group_booted", "group_name", "booted_at"),
        Index("ix_vm_usage_deleted", "deleted_at"),
    )

    vm_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    group_name: Mapped[str] = mapped_column(String(NAME))
    cloud_name: Mapped[str] = mapped_column(String(NAME))
    flavor: Mapped[str] = mapped_column(String(255), default="")
    cores: Mapped[int] = mapped_column(Integer, default=0)
    ram_mb: Mapped[int] = mapped_column(Integer, default=0)
    booted_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the boot request (the cloud's bill starts)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first seen as a startd
    first_job_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_job_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last poll that saw a job on it
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # retire first requested
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the cloud stopped listing it
    busy_core_s: Mapped[float] = mapped_column(Float, default=0.0)  # cores of its claimed slots x seconds
    idle_core_s: Mapped[float] = mapped_column(Float, default=0.0)  # the rest of its cores x seconds
    accounted_at: Mapped[datetime] = mapped_column(UTCDateTime)  # core-seconds are counted up to here
