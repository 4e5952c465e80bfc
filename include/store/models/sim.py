"""The simulated cloud's own inventory: what a real cloud would hold about each instance.

Written only by the simulated cloud adapter (include/simulated/cloud.py); read by the simulated
pool (include/simulated/pool.py) to let a booted instance's startd join the pool, advertising the
attributes its user-data set (``startd_attrs``), as a real VM's condor configuration would.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from include.store.models.base import Base, UTCDateTime, utcnow
from include.store.models.config import NAME


class SimInstance(Base):
    __tablename__ = "sim_instances"
    __table_args__ = (Index("ix_sim_instances_cloud", "group_name", "cloud_name"),)

    instance_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the cloud's id (uuid-like)
    group_name: Mapped[str] = mapped_column(String(NAME))
    cloud_name: Mapped[str] = mapped_column(String(NAME))
    name: Mapped[str] = mapped_column(String(255))  # server name = our vm_id
    request_id: Mapped[str | None] = mapped_column(String(128))  # idempotency key of the create
    flavor: Mapped[str] = mapped_column(String(255))
    image: Mapped[str] = mapped_column(String(255))
    cores: Mapped[int] = mapped_column(Integer)
    ram_mb: Mapped[int] = mapped_column(Integer)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # cloud metadata / tags
    startd_attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # from the user-data
    status: Mapped[str] = mapped_column(String(16), default="building")  # building|active|error|deleted
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    active_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the boot delay is over
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    never_register: Mapped[bool] = mapped_column(Boolean, default=False)  # injected failure
    fault: Mapped[str | None] = mapped_column(Text)
