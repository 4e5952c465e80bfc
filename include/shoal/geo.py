"""GeoIP through ``geoip2``: where an address is (a GeoLite2-City or DB-IP City Lite ``.mmdb``) and
which registrable domain owns it: from a GeoIP2-Domain ``.mmdb`` when the site has that commercial
database, else by reverse DNS (:class:`ReverseDns`), as the original server asked DNS.

Lookups are memoised per address: the HTTP API locates every requester, and boot storms repeat them.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The keys of ``geo_data`` in the original's JSON (reference section 4.2), in its order.
GEO_KEYS = (
    "city",
    "region_code",
    "time_zone",
    "metro_code",
    "latitude",
    "longitude",
    "postal_code",
    "country_code",
    "country_name",
    "continent",
)


@dataclass(frozen=True)
class Place:
    latitude: float
    longitude: float
    geo: dict[str, Any]  # GEO_KEYS -> value (None when the database does not know)


class GeoIPMissing(RuntimeError):
    """The configured city database does not exist or cannot be read."""


class ReverseDns:
    """An address's registrable domain by its PTR name and the Public Suffix List (bundled, no download):
    ``wn12.phys.uvic.ca`` -> ``uvic.ca``, ``squid.gridpp.rl.ac.uk`` -> ``rl.ac.uk``. A lookup waits at most
    ``timeout`` seconds; answers, failures included, are kept ``ttl`` seconds, so a requester costs one
    lookup an hour, not one a request. ``server``: ``host[:port]``, else the system's resolvers."""

    def __init__(self, server: str = "", timeout: float = 0.5, ttl: float = 3600.0, max_entries: int = 65536):
        import dns.resolver
        from publicsuffixlist import PublicSuffixList

        self._resolver = dns.resolver.Resolver(configure=not server)
        if server:
            host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
            self._resolver.nameservers = [host]
            self._resolver.port = int(port) if port else 53
        self._resolver.timeout = self._resolver.lifetime = timeout
        self._psl = PublicSuffixList()
        self._ttl, self._max = ttl, max_entries
        self._seen: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def domain(self, ip: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            hit = self._seen.get(ip)
        if hit and hit[0] > now:
            return hit[1]
        domain = self._lookup(ip)
        with self._lock:
            if len(self._seen) >= self._max:
                self._seen.clear()  # a flood of new addresses: start over rather than grow
            self._seen[ip] = (now + self._ttl, domain)
        return domain

    def known(self, ip: str) -> bool:
        """Whether :meth:`domain` answers ``ip`` from its cache, without asking DNS."""
        with self._lock:
            hit = self._seen.get(ip)
        return bool(hit and hit[0] > time.monotonic())

    def _lookup(self, ip: str) -> str | None:
        """Forward-confirmed: the PTR name must resolve back to ``ip``. Whoever holds an address block
        writes its PTR records, so a bare PTR lets anyone claim ``uvic.ca`` and be served its local-only
        caches; the name's own A/AAAA records belong to the domain's owner."""
        if not _valid(ip):
            return None
        try:
            name = str(self._resolver.resolve_address(ip)[0].target).rstrip(".").lower()
            kind = "AAAA" if ipaddress.ip_address(ip).version == 6 else "A"
            back = {ipaddress.ip_address(r.address) for r in self._resolver.resolve(name, kind)}
        except Exception:  # NXDOMAIN, no answer, timeout, no server: not placed in any domain
            return None
        if not name or ipaddress.ip_address(ip) not in back:
            return None
        return self._psl.privatesuffix(name)


class Locator:
    """Looks addresses up in the city database and, for domains, the domain database or reverse DNS."""

    def __init__(
        self,
        city_db: str,
        domain_db: str = "",
        cache_size: int = 65536,
        reverse_dns: ReverseDns | None = None,
    ):
        import geoip2.database

        if not Path(city_db).is_file():
            raise GeoIPMissing(f"GeoIP city database not found: {city_db} (set CS_SHOAL_GEOIP_DB)")
        try:
            self._city = geoip2.database.Reader(city_db)
        except Exception as exc:  # maxminddb raises several types for a corrupt file
            raise GeoIPMissing(f"GeoIP city database unreadable: {city_db}: {exc}") from exc
        self._domain = None
        self._reverse_dns = reverse_dns
        if domain_db:
            if Path(domain_db).is_file():
                self._domain = geoip2.database.Reader(domain_db)
            else:
                log.warning(
                    "GeoIP domain database not found: %s; same-domain access %s",
                    domain_db,
                    "by reverse DNS" if reverse_dns else "is off",
                )
        self.locate = lru_cache(maxsize=cache_size)(self._locate)
        # The database's answers never change while it is open; reverse DNS keeps its own expiring cache.
        self.domain = lru_cache(maxsize=cache_size)(self._domain_of) if self._domain else self._domain_of

    def _locate(self, ip: str) -> Place | None:
        if not _valid(ip):
            return None
        try:
            record = self._city.city(ip)
        except Exception:  # AddressNotFoundError, or a record without the expected shape
            return None
        lat, lon = record.location.latitude, record.location.longitude
        if lat is None or lon is None:
            return None
        geo = {
            "city": record.city.name,
            "region_code": record.subdivisions.most_specific.iso_code,
            "time_zone": record.location.time_zone,
            "metro_code": record.location.metro_code,
            "latitude": lat,
            "longitude": lon,
            "postal_code": record.postal.code,
            "country_code": record.country.iso_code,
            "country_name": record.country.name,
            "continent": record.continent.code,
        }
        return Place(latitude=float(lat), longitude=float(lon), geo=geo)

    def domain_is_quick(self, ip: str) -> bool:
        """Whether :meth:`domain` answers ``ip`` without waiting for DNS (an async caller offloads it)."""
        return self._domain is not None or self._reverse_dns is None or self._reverse_dns.known(ip)

    def _domain_of(self, ip: str) -> str | None:
        if not _valid(ip):
            return None
        if self._domain is None:
            return self._reverse_dns.domain(ip) if self._reverse_dns else None
        try:
            return self._domain.domain(ip).domain or None
        except Exception:
            return None

    def close(self) -> None:
        self._city.close()
        if self._domain is not None:
            self._domain.close()


def _valid(ip: str) -> bool:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return False
    return True
