"""Small builders for Shoal tests."""

from __future__ import annotations

from include.shoal.ranking import CacheView

COORDS = {
    "victoria": (48.4284, -123.3656),
    "geneva": (46.2044, 6.1432),
    "chicago": (41.8781, -87.6298),
    "tokyo": (35.6762, 139.6503),
}


def cache(
    uuid: str,
    city: str = "geneva",
    *,
    load: float = 0.0,
    verified: bool = True,
    created: float = 0.0,
    last_active: float = 1000.0,
    **fields,
) -> CacheView:
    lat, lon = COORDS[city]
    values = dict(
        uuid=uuid,
        hostname=f"{uuid}.example.org",
        port=3128,
        public_ip="192.0.2.2",
        private_ip=None,
        external_ip=None,
        latitude=lat,
        longitude=lon,
        geo={"city": city.title(), "latitude": lat, "longitude": lon},
        domain=None,
        load=load,
        max_load=None,
        verified=verified,
        global_access=None,
        domain_access=None,
        cache_type="squid",
        upstream="both",
        created=created,
        last_active=last_active,
    )
    return CacheView(**(values | fields))
