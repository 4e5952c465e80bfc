"""The public Shoal API's engine: an in-memory snapshot of the registry, refreshed every
``snapshot_ttl`` seconds, from which every request is answered without touching the database.

A request finding the snapshot old schedules one refresh and is answered from the old one meanwhile, so
no request waits for the database except the very first. Requester addresses are located through the
same GeoIP database as caches. ``X-Forwarded-For`` is believed only from ``trusted_proxies``; otherwise
the peer address is the requester, as in the original.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from include.shoal import registry, wire
from include.shoal.geo import GeoIPMissing, Locator
from include.shoal.ranking import CacheView, Ranker, Requester, Weights
from include.shoal.settings import ShoalSettings
from include.store.db import get_engine, session_scope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    taken: float
    ranker: Ranker
    fragments: wire.Fragments

    @property
    def caches(self) -> list[CacheView]:
        return self.ranker.caches


class ShoalService:
    def __init__(
        self,
        settings: ShoalSettings,
        engine: Callable[[], Engine] = get_engine,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self._engine = engine
        self._clock = clock
        self._weights = Weights(
            settings.max_load,
            settings.distload_weight,
            settings.load_constant,
            settings.rank_unplaced_by_load,
        )
        self._trusted = tuple(ipaddress.ip_network(n, strict=False) for n in settings.trusted_proxies)
        self._snapshot: Snapshot | None = None
        self._refreshing = threading.Lock()
        self._locator: Locator | None = None
        self._locator_checked = 0.0

    def now(self) -> float:
        return self._clock()

    # -- snapshot -------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        current = self._snapshot
        if current is None or self.settings.snapshot_ttl <= 0:  # no snapshot yet, or caching switched off
            with self._refreshing:
                if self._snapshot is None or self.settings.snapshot_ttl <= 0:
                    self._snapshot = self._load()
                return self._snapshot
        if self._clock() - current.taken > self.settings.snapshot_ttl and self._refreshing.acquire(
            blocking=False
        ):
            threading.Thread(target=self._refresh_locked, daemon=True, name="shoal-snapshot").start()
        return current

    def refresh(self) -> Snapshot:
        with self._refreshing:
            self._snapshot = self._load()
            return self._snapshot

    def _refresh_locked(self) -> None:
        try:
            self._snapshot = self._load()
        except Exception:  # keep serving the previous snapshot; the next request tries again
            log.exception("Shoal registry snapshot failed")
        finally:
            self._refreshing.release()

    def _load(self) -> Snapshot:
        now = self._clock()
        with session_scope(self._engine()) as session:
            caches = registry.live_views(
                session, datetime.fromtimestamp(now, UTC), self.settings.inactive_time
            )
        return Snapshot(taken=now, ranker=Ranker(caches, self._weights), fragments=wire.Fragments(caches))

    # -- requesters -----------------------------------------------------------------------------------
    def locator(self) -> Locator | None:
        """The GeoIP reader, opened lazily; retried every minute while the database is missing."""
        if self._locator is None and time.monotonic() - self._locator_checked > 60:
            self._locator_checked = time.monotonic()
            try:
                self._locator = self.settings.locator()
            except GeoIPMissing as exc:
                log.error(
                    "%s; no requester can be placed: each gets its local caches only, else null "
                    "(CS_SHOAL_RANK_UNPLACED_BY_LOAD=true ranks every cache by load instead)",
                    exc,
                )
        return self._locator

    def requester(self, peer: str | None, headers: Mapping[str, str]) -> Requester:
        ip = self.client_ip(peer, headers.get("x-forwarded-for"))
        locator = self.locator()
        place = locator.locate(ip) if locator and ip else None
        domain = locator.domain(ip) if locator and ip else None
        if place is None:
            return Requester(ip=ip, domain=domain)
        return Requester(ip=ip, latitude=place.latitude, longitude=place.longitude, domain=domain)

    def requester_is_quick(self, peer: str | None, headers: Mapping[str, str]) -> bool:
        """Whether :meth:`requester` answers without a DNS lookup (else an async caller offloads it)."""
        ip = self.client_ip(peer, headers.get("x-forwarded-for"))
        locator = self.locator()
        return not (locator and ip) or locator.domain_is_quick(ip)

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str | None:
        if not (peer and forwarded_for and self._trusted and self._is_trusted(peer)):
            return peer
        for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
            if not self._is_trusted(hop):
                return hop if _is_ip(hop) else peer
        return peer

    def _is_trusted(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self._trusted)

    # -- answers --------------------------------------------------------------------------------------
    def nearest(
        self, requester: Requester, count: int, *, kind: str = "squid", verified_only: bool = False
    ) -> str:
        snap = self.snapshot()
        ranked = snap.ranker.nearest(
            requester,
            count,
            now=self._clock(),
            inactive_time=self.settings.inactive_time,
            kind=kind,
            verified_only=verified_only,
        )
        return wire.nearest_json(snap.fragments, ranked)

    def all(self) -> str:
        snap = self.snapshot()
        cutoff = self._clock() - self.settings.inactive_time
        return wire.all_json(snap.fragments, [c for c in snap.caches if c.last_active >= cutoff])

    def wpad(self, requester: Requester) -> str:
        snap = self.snapshot()
        ranked = snap.ranker.nearest(
            requester, self.settings.wpad_count, now=self._clock(), inactive_time=self.settings.inactive_time
        )
        return wire.wpad(ranked)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
