"""GeoIP through ``geoip2``: where an address is (a GeoLite2-City or DB-IP City Lite ``.mmdb``) and,
optionally, which second-level domain owns it (a GeoIP2-Domain ``.mmdb``).

Lookups are memoised per address: the HTTP API locates every requester, and boot storms repeat them.
"""

from __future__ import annotations

import ipaddress
import logging
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


class Locator:
    """Looks addresses up in the city database and the optional domain database."""

    def __init__(self, city_db: str, domain_db: str = "", cache_size: int = 65536):
        import geoip2.database

        if not Path(city_db).is_file():
            raise GeoIPMissing(f"GeoIP city database not found: {city_db} (set CS_SHOAL_GEOIP_DB)")
        try:
            self._city = geoip2.database.Reader(city_db)
        except Exception as exc:  # maxminddb raises several types for a corrupt file
            raise GeoIPMissing(f"GeoIP city database unreadable: {city_db}: {exc}") from exc
        self._domain = None
        if domain_db:
            if Path(domain_db).is_file():
                self._domain = geoip2.database.Reader(domain_db)
            else:
                log.warning("GeoIP domain database not found: %s; same-domain access is off", domain_db)
        self.locate = lru_cache(maxsize=cache_size)(self._locate)
        self.domain = lru_cache(maxsize=cache_size)(self._domain_of)

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

    def _domain_of(self, ip: str) -> str | None:
        if self._domain is None or not _valid(ip):
            return None
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
