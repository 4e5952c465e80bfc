"""Bookkeeping of the control loop itself: leases that keep two planners of a group apart, and the
state of level-triggered alerts (so a condition alerts once when it starts and once when it clears)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from include.store.models.base import Base, UTCDateTime


class Lease(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)  # e.g. "plan/atlas"
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Fencing token: one more at every acquisition by a new holder. An actor checks that the lease
    # still has its holder and token before each call, so one that lost it does nothing.
    fence: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class AlertState(Base):
    __tablename__ = "alert_states"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)  # Alert.key
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    subject: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
