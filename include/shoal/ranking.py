"""Which caches a requester may use, and in what order (reference sections 3.4 and 3.6). Pure.

Score, identical to the original server's::

    d        = haversine(requester, cache)           km, R = 6378, rounded to 0.01
    distcost = d / (6378 * 3.14159265359) * w          normalised by half the circumference
    loadcost = (load / max_load) ** b * (1 - w)       max_load is the server's setting, as the original
    score    = distcost + loadcost                    ascending; ties keep registration order

Access rules:
- global: the cache passed our function test and its agent did not restrict it (0.9.x ``global_access``);
- local (served even unverified, marked ``"local": true`` so the client may use the private address):
  the requester's domain equals the cache's (GeoIP2-Domain database), or the requester is on the same
  private /16 as the cache's private address, or the requester comes from the cache's NAT
  (``external_ip``) and the cache has a private address. A 0.9.x ``domain_access: "False"`` opts out.
A requester the GeoIP data cannot place gets only the caches it may use locally, by load, and ``null``
(``DIRECT`` in WPAD) when there are none, as the original answered: its client then falls back to its
configured proxies instead of trusting caches anywhere in the world. ``rank_unplaced_by_load`` keeps
serving it every cache by load alone (``CS_SHOAL_RANK_UNPLACED_BY_LOAD``).
"""

from __future__ import annotations

import ipaddress
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

EARTH_RADIUS_KM = 6378.0
HALF_CIRCUMFERENCE_KM = 6378 * 3.14159265359  # the original's constant, kept for identical scores
KINDS = ("squid", "cvmfs", "frontier")  # /nearest, /nearestcvmfs, /nearestconditions
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


@dataclass(frozen=True)
class CacheView:
    """One registered cache, as the API serves it (a read-only copy of its row)."""

    uuid: str
    hostname: str
    port: int
    public_ip: str | None
    private_ip: str | None
    external_ip: str | None
    latitude: float
    longitude: float
    geo: dict[str, Any]
    domain: str | None
    load: float
    max_load: float | None
    verified: bool
    global_access: bool | None
    domain_access: bool | None
    cache_type: str
    upstream: str
    created: float  # epoch seconds
    last_active: float
    drift_seconds: float = 0.0
    agent_version: str = ""
    verify_error: str | None = None
    verify_attempted: float | None = None

    @property
    def served_globally(self) -> bool:
        return self.verified and self.global_access is not False


@dataclass(frozen=True)
class Weights:
    max_load: float = 122_000.0
    distload_weight: float = 0.5
    load_constant: float = 1.0
    rank_unplaced_by_load: bool = False  # unplaced requesters: every cache by load, not local ones only


@dataclass(frozen=True)
class Requester:
    ip: str | None
    latitude: float | None = None
    longitude: float | None = None
    domain: str | None = None

    @property
    def private16(self) -> str | None:
        return private16(self.ip)


def private16(ip: str | None) -> str | None:
    """The first two octets of an RFC 1918 IPv4 address (the client's notion of "same subnet")."""
    try:
        address = ipaddress.ip_address(ip) if ip else None
    except ValueError:
        return None
    if address is None or address.version != 4 or not any(address in n for n in _PRIVATE):
        return None
    return ".".join(str(address).split(".")[:2])


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance as the original computes it (R = 6378 km, rounded to 0.01 km)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (lon1, lat1, lon2, lat2))
    a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return round(EARTH_RADIUS_KM * 2 * math.asin(math.sqrt(a)), 2)


class Ranker:
    """Ranks one immutable list of caches; built once per registry snapshot, used by many requests."""

    def __init__(self, caches: Sequence[CacheView], weights: Weights = Weights()):
        self.caches = list(caches)
        self.weights = weights
        w = weights.distload_weight
        self._lat = np.radians(np.array([c.latitude for c in caches], dtype=float))
        self._lon = np.radians(np.array([c.longitude for c in caches], dtype=float))
        self._cos_lat = np.cos(self._lat)
        load = np.array([c.load for c in caches], dtype=float)
        self._loadcost = (load / weights.max_load) ** weights.load_constant * (1 - w)
        self._last_active = np.array([c.last_active for c in caches], dtype=float)
        self._global = np.array([c.served_globally for c in caches], dtype=bool)
        self._verified = np.array([c.verified for c in caches], dtype=bool)
        self._kind = {
            "squid": np.array([c.cache_type == "squid" for c in caches], dtype=bool),
            "cvmfs": np.array([c.upstream in ("both", "cvmfs") for c in caches], dtype=bool),
            "frontier": np.array([c.upstream in ("both", "frontier") for c in caches], dtype=bool),
        }
        self._by_domain: dict[str, list[int]] = defaultdict(list)
        self._by_private16: dict[str, list[int]] = defaultdict(list)
        self._by_nat: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(caches):
            if c.domain_access is False:
                continue
            if c.domain:
                self._by_domain[c.domain].append(i)
            if c.private_ip:
                if key := private16(c.private_ip):
                    self._by_private16[key].append(i)
                if c.external_ip:
                    self._by_nat[c.external_ip].append(i)

    def __len__(self) -> int:
        return len(self.caches)

    def live(self, now: float, inactive_time: float) -> np.ndarray:
        return self._last_active >= now - inactive_time

    def local_mask(self, requester: Requester) -> np.ndarray:
        mask = np.zeros(len(self.caches), dtype=bool)
        for index, key in (
            (self._by_domain, requester.domain),
            (self._by_private16, requester.private16),
            (self._by_nat, requester.ip),
        ):
            if key and key in index:
                mask[index[key]] = True
        return mask

    def scores(self, requester: Requester) -> np.ndarray:
        if requester.latitude is None or requester.longitude is None:
            return self._loadcost.copy()
        rlat, rlon = math.radians(requester.latitude), math.radians(requester.longitude)
        a = (
            np.sin((self._lat - rlat) / 2) ** 2
            + math.cos(rlat) * self._cos_lat * np.sin((self._lon - rlon) / 2) ** 2
        )
        km = np.round(EARTH_RADIUS_KM * 2 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), 2)
        return km / HALF_CIRCUMFERENCE_KM * self.weights.distload_weight + self._loadcost

    def nearest(
        self,
        requester: Requester,
        count: int,
        *,
        now: float,
        inactive_time: float,
        kind: str = "squid",
        verified_only: bool = False,
    ) -> list[tuple[CacheView, float, bool]]:
        """The ``count`` best caches for ``requester``: (cache, score, served-as-local), best first."""
        if count <= 0 or not self.caches:
            return []
        local = self.local_mask(requester)
        if verified_only:
            local &= self._verified
        placed = requester.latitude is not None and requester.longitude is not None
        remote = self._global if placed or self.weights.rank_unplaced_by_load else False
        allowed = (remote | local) & self._kind[kind] & self.live(now, inactive_time)
        candidates = np.flatnonzero(allowed)
        scores = self.scores(requester)[candidates]
        order = np.argsort(scores, kind="stable")[:count]  # stable: ties keep registration order
        return [(self.caches[candidates[j]], float(scores[j]), bool(local[candidates[j]])) for j in order]
