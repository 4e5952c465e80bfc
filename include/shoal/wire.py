"""What the published ``shoal-client`` 1.0.4 and browsers' PAC loaders read (reference sections 4.2, 4.3, 7).

The client parses JSON with regexes, not ``json.loads``, so the text itself is the contract:
- Python's default separators ``", "`` and ``": "`` (compact JSON yields zero usable caches);
- every client-read key in every object, ``null`` when absent;
- ``"local": null`` unless the cache really is local (the client takes ``false`` as true);
- objects keyed ``"0"``..``"N-1"`` in rank order; ``null`` when there is nothing to serve.
Key order follows the original (master) server. Each cache's constant part is rendered once per
registry snapshot; a request only joins strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from include.shoal.geo import GEO_KEYS
from include.shoal.ranking import CacheView

NULL = "null"
WPAD_EMPTY = 'function FindProxyForURL(url, host)\n{\n    return "DIRECT";\n}\n'


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


def cache_object(cache: CacheView) -> dict:
    """The per-cache object of ``/all`` (``/nearest`` adds ``distance``), in the original's key order."""
    return {
        "created": cache.created,
        "last_active": cache.last_active,
        "hostname": cache.hostname,
        "squid_port": cache.port,
        "public_ip": cache.public_ip or cache.external_ip,
        "private_ip": cache.private_ip,
        "external_ip": cache.external_ip,
        "geo_data": {key: cache.geo.get(key) for key in GEO_KEYS},
        "load": float(cache.load),
        "verified": cache.verified,
        "global_access": cache.served_globally,
        "max_load": _number(cache.max_load),
        "local": None,
        "cache_type": cache.cache_type,
        "upstream": cache.upstream,
    }


class Fragments:
    """Pre-rendered JSON of each cache, split around the per-request ``local`` value."""

    def __init__(self, caches: Sequence[CacheView]):
        self.head: dict[str, str] = {}  # uuid -> '{"created": ..., "max_load": ...'
        self.tail: dict[str, str] = {}  # uuid -> ', "cache_type": ..., "upstream": ...'
        for cache in caches:
            obj = cache_object(cache)
            del obj["local"], obj["cache_type"], obj["upstream"]
            self.head[cache.uuid] = json.dumps(obj)[:-1]
            self.tail[cache.uuid] = (
                f', "cache_type": {json.dumps(cache.cache_type)}, "upstream": {json.dumps(cache.upstream)}'
            )

    def one(self, cache: CacheView, local: bool, distance: float | None) -> str:
        text = f'{self.head[cache.uuid]}, "local": {"true" if local else NULL}{self.tail[cache.uuid]}'
        if distance is not None:
            text += f', "distance": {json.dumps(float(distance))}'
        return text + "}"


def nearest_json(fragments: Fragments, ranked: Iterable[tuple[CacheView, float, bool]]) -> str:
    parts = [f'"{i}": {fragments.one(cache, local, score)}' for i, (cache, score, local) in enumerate(ranked)]
    return "{" + ", ".join(parts) + "}" if parts else NULL


def all_json(fragments: Fragments, caches: Iterable[CacheView]) -> str:
    parts = [f'"{i}": {fragments.one(cache, False, None)}' for i, cache in enumerate(caches)]
    return "{" + ", ".join(parts) + "}" if parts else NULL


def wpad(ranked: Iterable[tuple[CacheView, float, bool]]) -> str:
    """The PAC file exactly as the original renders it: hostnames, ``PROXY http://`` and ``; DIRECT``."""
    proxies = "".join(f"PROXY http://{cache.hostname}:{cache.port};" for cache, _score, _local in ranked)
    if not proxies:
        return WPAD_EMPTY
    return f'function FindProxyForURL(url, host)\n{{\n    return "{proxies} DIRECT";\n}}\n'
