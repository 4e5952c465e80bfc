"""Shoal: the squid caches that agents advertise (F8), keyed by the agent's uuid.

Written by the Shoal DAGs (ingest registers and refreshes, verify records function tests, expire deletes);
read by the public Shoal HTTP API of the plugin. An agent restart brings a new uuid; the old one ages out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from include.store.models.base import Base, UTCDateTime


class ShoalCache(Base):
    __tablename__ = "shoal_caches"
    __table_args__ = (Index("ix_shoal_caches_last_active", "last_active"),)

    uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    public_ip: Mapped[str | None] = mapped_column(String(45))
    private_ip: Mapped[str | None] = mapped_column(String(45))
    external_ip: Mapped[str | None] = mapped_column(String(45))
    cache_type: Mapped[str] = mapped_column(String(16), default="squid")  # squid | varnish
    upstream: Mapped[str] = mapped_column(String(16), default="both")  # both | cvmfs | frontier
    agent_version: Mapped[str] = mapped_column(String(16))  # message shape: 0.6, 0.9, 1.0, master
    # Access fields of 0.9.x agents ("True"/"False" strings); None when the agent does not send them.
    global_access: Mapped[bool | None] = mapped_column(Boolean)
    domain_access: Mapped[bool | None] = mapped_column(Boolean)
    load: Mapped[float] = mapped_column(Float)  # KiB/s sent on the agent's NIC
    max_load: Mapped[float | None] = mapped_column(Float)  # as sent; may be negative on virtual NICs
    # GeoIP of the advertised address at registration: latitude/longitude plus the client-visible geo_data.
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    geo: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    domain: Mapped[str | None] = mapped_column(String(255))  # from the GeoIP2-Domain database, if any
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    last_active: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the agent's own clock, last message
    drift_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # receive time minus sent_at
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verify_attempted: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last pass
    verify_error: Mapped[str | None] = mapped_column(Text)
    verify_failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive
